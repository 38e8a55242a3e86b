import json

import keras
import numpy as np
import pytest

from course import io, runs
from course.errors import RunFolderError


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    return model


def tiny_data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ np.array([1.0, -2.0, 0.5, 0.0], "float32"))[:, None]


class KillAt(keras.callbacks.Callback):
    """Simulates a kill (Ctrl-C, a Colab disconnect) when epoch ``epoch`` begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_resume_continues_at_the_next_epoch_with_history_and_optimizer_state(tmp_path):
    x, y = tiny_data()
    model = tiny_model()
    with pytest.raises(KeyboardInterrupt):
        runs.fit_resumable(model, x, y, epochs=5, run=tmp_path, callbacks=[KillAt(3)], verbose=0)
    state = json.loads((tmp_path / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 3 and len(state["history"]["loss"]) == 3
    saved = [w.copy() for w in model.get_weights()]

    fresh = tiny_model(seed=1)  # different initial weights: everything must come from the checkpoint
    done, _ = runs.restore(fresh, runs.RunFolder(tmp_path))
    assert done == 3
    for a, b in zip(saved, fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    steps_per_epoch = 2  # 64 examples, fit's default batch of 32
    assert int(fresh.optimizer.iterations) == 3 * steps_per_epoch

    seen = []
    marker = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))
    history = runs.fit_resumable(tiny_model(seed=2), x, y, epochs=5, run=tmp_path,
                                     callbacks=[marker], verbose=0)
    assert seen == [3, 4]
    assert len(history["loss"]) == 5 and history["loss"][:3] == state["history"]["loss"]
    csv_history = runs.read_history_csv(tmp_path / "history.csv")
    assert len(csv_history["loss"]) == 5 and len(csv_history["epoch_seconds"]) == 5
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.h5")) == ["epoch-0005.weights.h5"]


def test_a_finished_run_resumed_trains_nothing(tmp_path):
    x, y = tiny_data()
    runs.fit_resumable(tiny_model(), x, y, epochs=2, run=tmp_path, verbose=0)
    seen = []
    marker = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))
    history = runs.fit_resumable(tiny_model(), x, y, epochs=2, run=tmp_path, callbacks=[marker], verbose=0)
    assert seen == [] and len(history["loss"]) == 2


def test_existing_run_is_not_overwritten_without_resume(tmp_path):
    x, y = tiny_data()
    runs.fit_resumable(tiny_model(), x, y, epochs=1, run=tmp_path, verbose=0)
    with pytest.raises(RunFolderError, match="--resume"):
        runs.fit_resumable(tiny_model(), x, y, epochs=2, run=tmp_path, resume=False, verbose=0)


def test_a_kill_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path, monkeypatch):
    x, y = tiny_data()
    model = tiny_model()
    runs.fit_resumable(model, x, y, epochs=1, run=tmp_path, verbose=0)
    before = (tmp_path / "checkpoints" / "state.json").read_text()

    def dies_half_way(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\x89HDF partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save_weights", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        runs.fit_resumable(model, x, y, epochs=2, run=tmp_path, verbose=0)
    assert (tmp_path / "checkpoints" / "state.json").read_text() == before
    assert [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")] == []
    assert runs.restore(tiny_model(), runs.RunFolder(tmp_path))[0] == 1


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_corrupt_state_file_is_a_clear_error(tmp_path):
    run = runs.RunFolder(tmp_path)
    run.checkpoints.mkdir()
    run.state_path.write_text("{not json")
    with pytest.raises(RunFolderError, match="corrupt"):
        run.state()


def test_sample_grids_and_gif(tmp_path):
    import imageio.v3 as iio

    fixed = np.linspace(-1, 1, 6 * 8 * 8).reshape(6, 8, 8, 1).astype("float32")
    calls = []

    def make_images(model):  # frames that change, as a training generator's do
        calls.append(1)
        return np.roll(fixed, len(calls), axis=1)

    grids = runs.SampleGrid(make_images, tmp_path / "frames", latest=tmp_path / "samples.png", ncols=3)
    x, y = tiny_data()
    model = tiny_model()
    model.fit(x, y, epochs=3, verbose=0, callbacks=[grids])
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"epoch-000{i}.png" for i in (1, 2, 3)]
    gif = runs.write_gif(tmp_path / "frames", tmp_path / "progress.gif")
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == 3
    png = iio.imread(tmp_path / "samples.png")
    assert png.shape == (2 * (2 * 10 + 2), 2 * (3 * 10 + 2))  # 2 rows x 3 cols of 8px + 2px padding, x2 scale
