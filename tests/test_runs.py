import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from course import io, runs
from course.errors import RunFolderError
from course.io import FileLock, LockedError


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


# --------------------------------------------------------------------------- runs you can trust

HELPERS = Path(__file__).parent / "helpers"


def _child(run_dir, kill_at=0):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, str(HELPERS / "kill_child.py"), str(run_dir), str(kill_at)],
                          capture_output=True, text=True, timeout=300, env=env)


def test_sigkill_at_every_step_of_a_checkpoint_then_resume_gives_the_uninterrupted_run(tmp_path):
    """Kills before and after each rename of the checkpoint write; the resumed run ends bitwise equal."""
    reference = _child(tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-2000:]
    run = tmp_path / "killed"
    # each kill point is counted in the renames of that process (run.json is renamed only by a fresh start)
    for kill_at, after in ((-3, None), (3, 1), (-1, 1), (2, 2)):
        out = _child(run, kill_at)
        assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
        state = runs.RunFolder(run).state()
        assert (state["epoch"] if state else None) == after, kill_at
    final = _child(run)
    assert final.returncode == 0, final.stderr[-2000:]
    np.testing.assert_array_equal(np.load(run / "final.npy"), np.load(tmp_path / "reference" / "final.npy"))
    assert [p.name for p in run.rglob(".tmp-*")] == []
    assert sorted(p.name for p in (run / "checkpoints").glob("*.h5")) == ["epoch-0003.weights.h5"]
    assert len(runs.read_history_csv(run / "history.csv")["loss"]) == 3


def test_a_resumed_gan_draws_the_noise_and_data_order_of_the_uninterrupted_run(tmp_path, monkeypatch):
    """A checkpoint holds the seed generators' states; pipelines shuffle by (seed, epoch)."""
    from course import data
    from course.models import dcgan

    x, _ = data.synthetic_digits(192, seed=0)

    def train(folder, epochs=3):
        keras.utils.set_random_seed(0)
        gan = dcgan.make_dcgan((28, 28, 1), seed=0)
        ds = data.pipeline(x, batch_size=32, shuffle=True, seed=0, scale="symmetric", drop_remainder=True)
        runs.fit_resumable(gan, ds, epochs=epochs, run=folder, verbose=0)
        return gan

    reference = train(tmp_path / "reference")
    original = runs.ResumableCheckpoint.on_epoch_end

    def killed_after_first_checkpoint(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(runs.ResumableCheckpoint, "on_epoch_end", killed_after_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "resumed")
    monkeypatch.setattr(runs.ResumableCheckpoint, "on_epoch_end", original)
    resumed = train(tmp_path / "resumed")
    for a, b in zip(reference.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reference.seed_generator.state.value),
                                  keras.ops.convert_to_numpy(resumed.seed_generator.state.value))


def batches(pipeline):
    """One epoch of a course pipeline, whichever backend made it (tf.data or a PyDataset)."""
    if isinstance(pipeline, keras.utils.PyDataset):
        pipeline.on_epoch_begin()
        out = [pipeline[i] for i in range(len(pipeline))]
        pipeline.on_epoch_end()
        return out
    return list(pipeline)


def test_each_epoch_has_its_own_order_and_a_resumed_pipeline_replays_none():
    from course import data

    x = np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1)
    ds = data.pipeline(x, np.arange(20), batch_size=8, shuffle=True, seed=3)
    epochs = [np.concatenate([keras.ops.convert_to_numpy(b[1]) for b in batches(ds)]) for _ in range(3)]
    assert all(sorted(e) == list(range(20)) for e in epochs)
    assert not np.array_equal(epochs[0], epochs[1])
    fresh = data.pipeline(x, np.arange(20), batch_size=8, shuffle=True, seed=3)
    data.set_epoch(fresh, 2)  # what fit_resumable does when it resumes at epoch 3
    np.testing.assert_array_equal(np.concatenate([keras.ops.convert_to_numpy(b[1]) for b in batches(fresh)]), epochs[2])


def test_another_process_on_the_folder_is_named_and_a_dead_ones_lock_never_blocks(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        from course.runs import RunFolder
        lock = RunFolder({str(tmp_path)!r}).lock().acquire()
        print("locked", flush=True)
        if sys.argv[1] == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script, "hold"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        x, y = tiny_data()
        with pytest.raises(LockedError, match=rf"in use by process {holder.pid} "):
            runs.fit_resumable(tiny_model(), x, y, epochs=1, run=tmp_path, verbose=0)
    finally:
        holder.kill()
        holder.wait()
    dead = subprocess.run([sys.executable, "-c", script, "die"], capture_output=True, text=True)
    assert dead.returncode == -signal.SIGKILL
    runs.fit_resumable(tiny_model(), *tiny_data(), epochs=1, run=tmp_path, verbose=0)  # not blocked
    with FileLock(tmp_path / "x.lock"), FileLock(tmp_path / "x.lock"):  # re-entrant in one process
        pass


def test_the_waiting_locks_of_the_evaluator_cache_and_lesson_05_are_free_again_after_their_block(tmp_path):
    """A lock taken for a ``with`` block is released at its end: another process (here another open
    file, which ``flock`` treats alike) can take it. Taking it twice on entry would hold it until the
    process ends: a notebook kernel would block every other one that builds the same evaluator."""
    from course import io
    from course.jobs import evaluators

    def free(path):
        with open(path, "a+") as handle:
            if io._try_lock(handle):
                io._unlock(handle)
                return True
            return False

    with evaluators._lock(tmp_path / "cache"):
        assert not free(tmp_path / "cache.lock")  # held inside the block
    assert free(tmp_path / "cache.lock")
    with FileLock(tmp_path / "run.lesson05.lock", wait=True):
        assert not free(tmp_path / "run.lesson05.lock")
    assert free(tmp_path / "run.lesson05.lock")


def test_temporary_files_a_kill_left_are_removed_when_the_folder_is_next_used(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    left = [tmp_path / ".tmp-metrics.abc.json", tmp_path / "checkpoints" / ".tmp-epoch-0001.weights.xyz.h5"]
    for p in left:
        p.write_text("half")
    runs.fit_resumable(tiny_model(), *tiny_data(), epochs=1, run=tmp_path, verbose=0)
    assert not any(p.exists() for p in left)


def test_atomic_writes_are_flushed_to_disk_before_and_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    io.write_json_atomic(tmp_path / "a.json", {"x": 1})
    assert len(synced) == 2 and ".tmp-a." in synced[0] and synced[1] == str(tmp_path)


def test_run_folders_are_named_by_their_settings(tmp_path):
    a = runs.run_folder("02_dcgan", root=tmp_path, upsample="transpose", epochs=5)
    assert runs.run_folder("02_dcgan", root=tmp_path, epochs=5, upsample="transpose").path == a.path
    assert runs.run_folder("02_dcgan", root=tmp_path, upsample="resize", epochs=5).path != a.path
    assert a.path.name.startswith("02_dcgan-")


def test_a_model_that_does_not_fit_the_run_is_refused_before_loading(tmp_path):
    """A different architecture or learning rate in the same folder: one message, nothing loaded."""
    x, y = tiny_data()
    runs.fit_resumable(tiny_model(), x, y, epochs=1, run=tmp_path, settings={"width": 8}, verbose=0)
    wider = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    wider.compile(keras.optimizers.Adam(1e-2), "mse")
    with pytest.raises(RunFolderError, match=r"model\.weights") as err:
        runs.fit_resumable(wider, x, y, epochs=2, run=tmp_path, settings={"width": 8}, verbose=0)
    assert "another folder" in str(err.value)
    slower = tiny_model()
    slower.optimizer.learning_rate = 1e-3
    with pytest.raises(RunFolderError, match=r"model\.optimizers\.0\.learning_rate: 0\.01 in the run, 0\.001 now"):
        runs.fit_resumable(slower, x, y, epochs=2, run=tmp_path, settings={"width": 8}, verbose=0)
    with pytest.raises(RunFolderError, match=r"settings\.width: 8 in the run, 16 now"):
        runs.fit_resumable(tiny_model(), x, y, epochs=2, run=tmp_path, settings={"width": 16}, verbose=0)
    with pytest.raises(RunFolderError, match="would not undo them"):
        runs.fit_resumable(tiny_model(), x, y, epochs=0, run=tmp_path, settings={"width": 8}, verbose=0)


def test_settings_recorded_in_an_earlier_form_are_compared_as_what_they_mean_now(tmp_path):
    """``upgrade_settings`` maps what run.json recorded to today's form before the comparison: the same run
    resumes, another is still refused (naming the value in today's form), and run.json keeps its own record."""
    x, y = tiny_data()
    runs.fit_resumable(tiny_model(), x, y, epochs=1, run=tmp_path, settings={"xla": False, "width": 8}, verbose=0)

    def upgrade(recorded):
        return {**recorded, "xla": {True: "gpu", False: "never"}.get(recorded["xla"], recorded["xla"])}

    with pytest.raises(RunFolderError, match=r"settings\.xla: False in the run, 'never' now"):  # without the map
        runs.fit_resumable(tiny_model(), x, y, epochs=2, run=tmp_path, settings={"xla": "never", "width": 8},
                           verbose=0)
    with pytest.raises(RunFolderError, match=r"settings\.xla: 'never' in the run, 'always' now"):
        runs.fit_resumable(tiny_model(), x, y, epochs=2, run=tmp_path, settings={"xla": "always", "width": 8},
                           verbose=0, upgrade_settings=upgrade)
    history = runs.fit_resumable(tiny_model(), x, y, epochs=2, run=tmp_path, settings={"xla": "never", "width": 8},
                                 verbose=0, upgrade_settings=upgrade)
    assert len(history["loss"]) == 2
    assert json.loads((tmp_path / "run.json").read_text())["settings"] == {"xla": False, "width": 8}


def test_the_moving_average_momentum_is_part_of_the_run_and_an_older_record_without_it_still_resumes(
        tmp_path, capsys):
    """An optimizer's ``ema_momentum`` (with ``use_ema``) is recorded and compared like its learning rate; a run
    whose record predates it (an earlier release) is compared on the rest, with a note, not refused."""
    x, y = tiny_data()

    def averaged(momentum):
        model = tiny_model()
        model.compile(keras.optimizers.Adam(1e-2, use_ema=True, ema_momentum=momentum), "mse")
        return model

    assert "ema_momentum" not in runs.describe_model(tiny_model())["optimizers"][0]
    runs.fit_resumable(averaged(0.9), x, y, epochs=1, run=tmp_path, verbose=0)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["model"]["optimizers"][0]["ema_momentum"] == pytest.approx(0.9)
    with pytest.raises(RunFolderError, match=r"model\.optimizers\.0\.ema_momentum: 0\.9 in the run, 0\.99 now"):
        runs.fit_resumable(averaged(0.99), x, y, epochs=2, run=tmp_path, verbose=0)
    with pytest.raises(RunFolderError, match=r"ema_momentum: 0\.9 in the run, '\(not set\)' now"):  # no average now
        runs.fit_resumable(tiny_model(), x, y, epochs=2, run=tmp_path, verbose=0)
    del record["model"]["optimizers"][0]["ema_momentum"], record["record_format"]  # as an earlier release wrote it
    (tmp_path / "run.json").write_text(json.dumps(record))
    capsys.readouterr()
    with pytest.raises(RunFolderError, match=r"learning_rate: 0\.01 in the run, 0\.001 now"):  # the rest still counts
        model = averaged(0.99)
        model.compile(keras.optimizers.Adam(1e-3, use_ema=True, ema_momentum=0.99), "mse")
        runs.fit_resumable(model, x, y, epochs=2, run=tmp_path, verbose=0)
    assert len(runs.fit_resumable(averaged(0.99), x, y, epochs=2, run=tmp_path, verbose=0)["loss"]) == 2
    assert "did not record model.optimizers.0.ema_momentum (0.99 now)" in capsys.readouterr().out
    # a run this release recorded without an average had none: one now is another run, not an unrecorded value
    runs.fit_resumable(tiny_model(), x, y, epochs=1, run=tmp_path / "plain", verbose=0)
    with pytest.raises(RunFolderError, match=r"ema_momentum: '\(not set\)' in the run, 0\.9 now"):
        runs.fit_resumable(averaged(0.9), x, y, epochs=2, run=tmp_path / "plain", verbose=0)
    # under loss scaling (mixed precision) the wrapped optimizer's average is described
    scaled = tiny_model()
    scaled.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-2, use_ema=True, ema_momentum=0.9)),
                   "mse")
    assert runs.describe_model(scaled)["optimizers"][0]["ema_momentum"] == pytest.approx(0.9)


def test_a_notebook_run_an_earlier_release_named_is_found_under_its_name_and_resumes(tmp_path, monkeypatch, capsys):
    """run_folder's name covers the average's momentum now; a run an earlier release started (and named without
    it) is found under its old name, not trained again, while without one the name follows the momentum."""
    x, y = tiny_data()

    def averaged(momentum):
        model = tiny_model()
        model.compile(keras.optimizers.Adam(1e-2, use_ema=True, ema_momentum=momentum), "mse")
        return model

    named = runs.run_folder("06_diffusion", root=tmp_path, model=averaged(0.9), width=8)
    assert named.path != runs.run_folder("06_diffusion", root=tmp_path, model=averaged(0.99), width=8).path
    assert len(list(tmp_path.iterdir())) == 2  # nothing made under an earlier release's name
    describe = runs._describe_optimizer
    monkeypatch.setattr(runs, "_describe_optimizer",  # the earlier release's description: no momentum
                        lambda o: {k: v for k, v in describe(o).items() if k != "ema_momentum"})
    earlier = runs.run_folder("06_diffusion", root=tmp_path, model=averaged(0.9), width=8)
    assert earlier.path != named.path
    import hashlib  # the earlier release's name: the digest of the settings and that description, keys sorted

    recipe = {"settings": {"width": 8}, "model": runs.describe_model(averaged(0.9))}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:8]
    assert earlier.path.name == f"06_diffusion-{digest}"
    runs.fit_resumable(averaged(0.9), x, y, epochs=1, run=earlier, settings={"width": 8}, verbose=0)
    monkeypatch.undo()
    assert runs.run_folder("06_diffusion", root=tmp_path, model=averaged(0.9), width=8).path == named.path  # form 2
    record = json.loads((earlier.path / "run.json").read_text())
    del record["record_format"]  # as the earlier release wrote it
    (earlier.path / "run.json").write_text(json.dumps(record))
    found = runs.run_folder("06_diffusion", root=tmp_path, model=averaged(0.9), width=8)
    assert found.path == earlier.path
    capsys.readouterr()
    history = runs.fit_resumable(averaged(0.9), x, y, epochs=2, run=found, settings={"width": 8}, verbose=0)
    assert len(history["loss"]) == 2 and "did not record model.optimizers.0.ema_momentum" in capsys.readouterr().out
    assert runs.run_folder("06_diffusion", root=tmp_path, model=averaged(0.9), width=8).path == earlier.path
    # killed before its first checkpoint, the earlier run has nothing to continue: today's name, a new run
    state = earlier.path / "checkpoints" / "state.json"
    state.rename(tmp_path / "state.json")
    assert runs.run_folder("06_diffusion", root=tmp_path, model=averaged(0.9), width=8).path == named.path
    (tmp_path / "state.json").rename(state)
    (earlier.path / "run.json").write_text("{not json")  # unreadable: not a run to continue, and no crash
    assert runs.run_folder("06_diffusion", root=tmp_path, model=averaged(0.9), width=8).path == named.path
    (earlier.path / "run.json").write_text(json.dumps(record))
    # a run this release started under today's name is today's, whatever an earlier name holds
    runs.fit_resumable(averaged(0.9), x, y, epochs=1, run=named, settings={"width": 8}, verbose=0)
    assert runs.run_folder("06_diffusion", root=tmp_path, model=averaged(0.9), width=8).path == named.path


@pytest.mark.parametrize("key, other", [("backend", "another-backend"), ("keras", "3.0.0")])
def test_a_run_resumes_only_on_its_backend_and_keras_version(tmp_path, key, other):
    """A run started on TensorFlow and resumed on JAX (or under another Keras) cannot continue exactly:
    the resume stops, names the difference and says how to continue it or start anew."""
    x, y = tiny_data()
    runs.fit_resumable(tiny_model(), x, y, epochs=1, run=tmp_path, verbose=0)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["backend"] == keras.backend.backend() and record["keras"] == keras.__version__
    record[key] = other  # the run as another backend or Keras would have recorded it
    (tmp_path / "run.json").write_text(json.dumps(record))
    with pytest.raises(RunFolderError) as refused:
        runs.fit_resumable(tiny_model(), x, y, epochs=2, run=tmp_path, verbose=0)
    now = keras.backend.backend() if key == "backend" else keras.__version__
    assert f"{key}: {other!r} in the run, {now!r} now" in str(refused.value)
    assert f"KERAS_BACKEND={record['backend']}" in str(refused.value) and "new run" in str(refused.value)
    assert json.loads((tmp_path / "checkpoints" / "state.json").read_text())["epoch"] == 1  # nothing changed
