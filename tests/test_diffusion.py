"""Lesson 06's diffusion model: schedule, forward process, loss, samplers, guidance, job and checks.

The samplers are tested against an *oracle* network that knows the data: when every training image
is the same image ``c``, the noise in ``x_t`` is exactly ``(x_t - sqrt(a_t) c) / sqrt(1 - a_t)``, and a
correct sampler fed that noise must end at ``c``.
"""
import json
import shutil

import keras
import numpy as np
import pytest
from keras import layers, ops

from course import backend, checks, data
from course.cli import main
from course.errors import CourseError, ShapeError
from course.jobs import diffusion as job
from course.models import diffusion as dm

from test_checks import assert_rejects, run


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


# --------------------------------------------------------------------------- schedule and forward process


def test_linear_schedule_is_ho_et_al_and_both_schedules_end_in_noise():
    linear, cosine = dm.Schedule("linear", 1000), dm.Schedule("cosine", 1000)
    assert linear.betas[0] == pytest.approx(1e-4) and linear.betas[-1] == pytest.approx(0.02)
    for s in (linear, cosine):
        assert np.allclose(s.alpha_bars, np.cumprod(1 - s.betas))
        assert s.alpha_bars[-1] < 1e-3  # x_T is (nearly) pure noise
        assert np.all(np.diff(s.snr()) < 0)  # the signal-to-noise ratio falls with t
        assert s.posterior_variance[0] == 0.0
    # the cosine schedule keeps more signal in the middle (log SNR falls linearly-ish instead of dropping early)
    assert cosine.alpha_bars[500] > linear.alpha_bars[500]
    with pytest.raises(CourseError, match="linear' or 'cosine"):
        dm.Schedule("quadratic")


def test_closed_form_equals_t_plus_one_forward_steps():
    """Guards D1: x_t (index t of every array) is x_0 after t + 1 forward steps, so alpha_bars[t] and the
    network's t are the same number; index 0 is already noised, and the sampler's t = 0 ends at x_0."""
    s = dm.Schedule("linear", 50)
    mean_coef, variance = 1.0, 0.0
    for t in range(50):  # q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)
        mean_coef, variance = np.sqrt(1 - s.betas[t]) * mean_coef, (1 - s.betas[t]) * variance + s.betas[t]
        x = dm.q_sample(np.ones((1, 1, 1, 1)), np.array([t]), np.zeros((1, 1, 1, 1)), s.alpha_bars)
        assert float(numpy(x).ravel()[0]) == pytest.approx(mean_coef, rel=1e-5)
        assert 1 - s.alpha_bars[t] == pytest.approx(variance, rel=1e-6)
    model = dm.Diffusion(dm.build_unet((8, 8, 1), 8), dm.Schedule("linear", 50))
    visited = model.timesteps_for(None)
    assert visited[0] == 49 and visited[-1] == 0 and len(visited) == 50
    assert model.timesteps_for(5)[0] == 49 and model.timesteps_for(5)[-1] == 0


def test_the_network_is_told_the_timestep_its_input_was_noised_with(monkeypatch):
    """Guards D1 in the model: the forward pass makes x_t with alpha_bars[t] and shows the network that t."""
    seen = {}

    class Spy(keras.layers.Layer):
        def call(self, x_t, t):
            seen["x_t"], seen["t"] = x_t, t  # the last call's: the eager one
            return x_t

        def compute_output_shape(self, x_t_shape, t_shape):
            return x_t_shape

    x_in, t_in = keras.Input((4, 4, 1)), keras.Input((), dtype="int32")
    network = keras.Model([x_in, t_in], Spy()(x_in, t_in))
    model = dm.Diffusion(network, dm.Schedule("linear", 100))
    monkeypatch.setattr(dm.backend, "uniform", lambda shape, gen, dtype="float32": ops.convert_to_tensor(
        np.array([0.0, 0.5, 0.999], "float32")))
    noise = np.random.default_rng(0).standard_normal((3, 4, 4, 1)).astype("float32")
    monkeypatch.setattr(dm.backend, "normal", lambda shape, gen, dtype="float32": ops.convert_to_tensor(noise))
    x0 = np.random.default_rng(1).uniform(-1, 1, (3, 4, 4, 1)).astype("float32")
    out = model(x0, training=True)
    seen = {k: numpy(v) for k, v in seen.items()}
    assert list(seen["t"]) == [0, 50, 99] and list(numpy(out["t"])) == [0, 50, 99]
    a = model.schedule.alpha_bars[[0, 50, 99]].reshape(-1, 1, 1, 1)
    assert np.allclose(seen["x_t"], np.sqrt(a) * x0 + np.sqrt(1 - a) * noise, atol=1e-5)


def test_training_data_are_scaled_to_minus_one_one():
    """Guards D2: the job feeds images in [-1, 1], where N(0, I) at t = T matches the data's scale; samples
    are mapped back to uint8 from that range."""
    x, y = data.synthetic_digits(64, seed=0)
    for conditional in (False, True):
        cfg = job.TrainConfig(dataset="synthetic_digits", conditional=conditional)
        d = type("D", (), {"x_train": x, "y_train": y, "batch_size": 32})()
        batch = next(iter(job.DiffusionJob().feed(cfg, d)[0]))
        images = numpy(batch[0][0] if conditional else batch)
        assert images.min() == pytest.approx(-1.0) and images.max() == pytest.approx(1.0)
        if conditional:
            assert numpy(batch[0][1]).dtype == np.int32
    assert data.from_symmetric(np.array([-1.0, 0.0, 1.0])).tolist() == [0, 128, 255]


def test_the_model_rejects_a_mismatched_network_and_bad_settings():
    with pytest.raises(ShapeError, match="num_classes"):
        dm.Diffusion(dm.build_unet((8, 8, 1), 8), num_classes=10)
    with pytest.raises(ShapeError, match="multiple of 4"):
        dm.build_unet((30, 30, 1))
    model = dm.Diffusion(dm.build_unet((8, 8, 1), 8, num_classes=3), dm.Schedule("linear", 10), num_classes=3)
    with pytest.raises(CourseError, match="labels"):
        model.sample(2, steps=2)
    with pytest.raises(CourseError, match="classes 0..2"):
        model.sample(2, steps=2, labels=[0, 3])



def test_the_unet_puts_few_channels_at_full_resolution_and_many_at_a_quarter():
    net = dm.build_unet((8, 8, 1), 4)
    channels = {layer.name: layer.filters for layer in net.layers if isinstance(layer, keras.layers.Conv2D)}
    assert channels["down1_conv2"] == 4 * dm.LEVELS[0] and channels["up1_conv2"] == 4 * dm.LEVELS[0]
    assert channels["down2_conv2"] == 4 * dm.LEVELS[1] and channels["up2_conv2"] == 4 * dm.LEVELS[1]
    assert channels["middle_conv2"] == 4 * dm.LEVELS[2]
    assert dm.LEVELS[0] < dm.LEVELS[1] < dm.LEVELS[2]
    assert net.get_layer("middle_conv2").output.shape[1:3] == (2, 2)  # two halvings of 8x8
    for bad in ((1, 2), (1, 0, 4)):
        with pytest.raises(CourseError, match="levels"):
            dm.build_unet((8, 8, 1), 4, levels=bad)

# --------------------------------------------------------------------------- loss


@pytest.mark.parametrize("weighting", ["simple", "min_snr"])
def test_the_loss_is_the_squared_error_of_the_noise_not_of_the_image(weighting):
    """Guards D3 in training: the target of the network is the noise that was added; each image's
    error weighed by its own timestep's weight (1 for the simple loss)."""
    model = dm.make_diffusion((8, 8, 1), 8, timesteps=20, seed=0, weighting=weighting)
    x0 = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 1)).astype("float32")
    out = model(x0, training=True)
    loss = float(model.compute_loss(x0, None, out))
    noise, prediction, t = numpy(out["noise"]), numpy(out["prediction"]), numpy(out["t"])
    weights = dm.timestep_weights(model.schedule, weighting)[t]
    per_image = np.mean((noise - prediction) ** 2, axis=(1, 2, 3))
    assert loss == pytest.approx(float(np.mean(weights * per_image)), rel=1e-5)
    assert abs(loss - float(np.mean(weights * np.mean((x0 - prediction) ** 2, axis=(1, 2, 3))))) > 1e-3
    if weighting == "min_snr":  # the weights differ between the images' timesteps: a per-image weight
        assert len(set(np.round(weights, 6))) > 1
        assert abs(loss - float(np.mean(weights) * np.mean(per_image))) > 1e-6


def test_min_snr_weighs_down_only_the_nearly_clean_timesteps():
    schedule = dm.Schedule("linear", 1000)
    snr, weights = schedule.snr(), dm.timestep_weights(schedule, "min_snr")
    noisy = snr <= dm.SNR_GAMMA
    assert noisy.any() and (~noisy).any()
    np.testing.assert_allclose(weights[noisy], 1.0)
    np.testing.assert_allclose(weights[~noisy], dm.SNR_GAMMA / snr[~noisy], rtol=1e-5)
    assert weights[0] < 0.01 and np.all(np.diff(weights) >= -1e-7)  # rising with t: t = 0 weighs least
    np.testing.assert_array_equal(dm.timestep_weights(schedule, "simple"), np.ones(1000, np.float32))
    with pytest.raises(CourseError, match="weighting"):
        dm.make_diffusion((8, 8, 1), 8, weighting="snr")


def test_a_few_epochs_lower_the_loss_and_one_optimizer_moves_every_weight():
    x, _ = data.synthetic_digits(256, seed=0)
    keras.utils.set_random_seed(0)  # the initial weights do not depend on the tests run before this one
    model = dm.make_diffusion(width=8, seed=0, ema=0.9)
    before = [w.copy() for w in model.network.get_weights()]
    ds = data.pipeline(x, batch_size=32, shuffle=True, seed=0, scale="symmetric")
    history = model.fit(ds, epochs=3, verbose=0).history["loss"]
    # falls, and ends below 1.0, the loss of predicting zeros for unit-variance noise
    assert history[-1] < history[0] and history[-1] < 1.0
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.network.get_weights()))
    raw = [w.copy() for w in model.network.get_weights()]
    dm.use_averaged_weights(model)  # fit already did: the same weights again
    assert all(np.array_equal(a, b) for a, b in zip(raw, model.network.get_weights()))


# --------------------------------------------------------------------------- samplers


def oracle(c: float, schedule: dm.Schedule, shape=(4, 4, 1), conditional: bool = False):
    """A network that predicts the true noise when every training image is the constant ``c``."""
    x_in, t_in = keras.Input(shape), keras.Input((), dtype="int32")
    inputs = [x_in, t_in] + ([keras.Input((), dtype="int32")] if conditional else [])
    alpha_bars = schedule.alpha_bars.astype("float32")

    def noise(args):
        x, t = args[0], args[1]
        a = ops.reshape(ops.take(ops.convert_to_tensor(alpha_bars), ops.cast(t, "int32")), (-1, 1, 1, 1))
        return (x - ops.sqrt(a) * c) / ops.sqrt(1 - a)

    return keras.Model(inputs, layers.Lambda(noise)(inputs))


@pytest.mark.parametrize("sampler,steps", [("ddpm", None), ("ddim", 10), ("ddim", 1)])
def test_samplers_fed_the_true_noise_end_at_the_data(sampler, steps):
    """Guards D3 in sampling: the samplers read the network's output as noise; read as x_0 (or the reverse)
    they would not end at the data."""
    schedule = dm.Schedule("linear", 100)
    model = dm.Diffusion(oracle(0.4, schedule), schedule)
    images = model.sample(6, sampler=sampler, steps=steps, seed=0, batch_size=4)
    assert images.shape == (6, 4, 4, 1)
    assert np.allclose(images, 0.4, atol=1e-3)


def test_ddpm_step_at_t_zero_adds_no_noise_and_ddim_is_deterministic():
    s = dm.Schedule("linear", 100).arrays()
    rng = np.random.default_rng(0)
    x, eps, z = (rng.standard_normal((2, 3, 3, 1)).astype("float32") for _ in range(3))
    t0 = np.zeros(2, "int32")
    assert np.allclose(numpy(dm.ddpm_step(x, t0, eps, z, s["betas"], s["alpha_bars"], s["posterior_variance"])),
                       numpy(dm.ddpm_step(x, t0, eps, 0 * z, s["betas"], s["alpha_bars"], s["posterior_variance"])))
    a = numpy(dm.ddim_step(x, np.full(2, 50), np.full(2, 40), eps, s["alpha_bars"]))
    b = numpy(dm.ddim_step(x, np.full(2, 50), np.full(2, 40), eps, s["alpha_bars"]))
    assert np.array_equal(a, b)


def test_every_image_and_every_step_gets_its_own_noise(monkeypatch):
    """Guards D4: the training noise and timesteps differ across the batch; the ancestral sampler draws a
    new z for every image at every step."""
    model = dm.make_diffusion((8, 8, 1), 8, timesteps=50, seed=0)
    out = model(np.zeros((16, 8, 8, 1), "float32"), training=True)
    noise = numpy(out["noise"]).reshape(16, -1)
    assert len({row.tobytes() for row in noise}) == 16 and len(set(numpy(out["t"]).tolist())) > 8
    again = numpy(model(np.zeros((16, 8, 8, 1), "float32"), training=True)["noise"]).reshape(16, -1)
    assert not np.allclose(noise, again)  # and a new draw every step

    seen = []
    real = model._stepper

    def spy(*args, **kwargs):
        step = real(*args, **kwargs)

        def record(x, t, t_prev, labels, z):
            seen.append(np.array(z))
            return step(x, t, t_prev, labels, z)
        return record

    monkeypatch.setattr(model, "_stepper", spy)
    model.sample(3, sampler="ddpm", seed=0)
    draws = np.stack(seen)  # (steps, images, ...)
    assert draws.shape[:2] == (50, 3)
    flat = draws.reshape(50 * 3, -1)
    assert len({row.tobytes() for row in flat}) == 150
    seen.clear()
    model.sample(3, sampler="ddim", steps=5, seed=0, eta=1.0)  # DDIM with noise: fresh z too
    assert len({row.tobytes() for row in np.stack(seen).reshape(5 * 3, -1)}) == 15
    assert np.array_equal(model.sample(3, sampler="ddim", steps=5, seed=1), model.sample(3, sampler="ddim", steps=5,
                                                                                         seed=1))


def test_guidance_moves_from_the_unconditional_towards_the_asked_class():
    """Guards D5: eps_u + w (eps_c - eps_u): the conditional branch gets the asked label, the unconditional
    one the null class, and the weight's sign pushes towards the class."""
    x_in, t_in, y_in = keras.Input((2, 2, 1)), keras.Input((), dtype="int32"), keras.Input((), dtype="int32")
    # "noise" = the label it was given, everywhere: eps_c = label, eps_u = the null class (3)
    network = keras.Model([x_in, t_in, y_in], layers.Lambda(
        lambda a: ops.zeros_like(a[0]) + ops.reshape(ops.cast(a[2], "float32"), (-1, 1, 1, 1)))([x_in, t_in, y_in]))
    model = dm.Diffusion(network, dm.Schedule("linear", 10), num_classes=3)
    x, t, labels = np.zeros((3, 2, 2, 1), "float32"), np.full(3, 5, "int32"), np.array([0, 1, 2], "int32")
    for w, expected in ((1.0, [0, 1, 2]), (0.0, [3, 3, 3]), (2.0, [3 + 2 * (c - 3) for c in (0, 1, 2)])):
        got = numpy(model.predict_noise(x, t, labels, guidance=w))[:, 0, 0, 0]
        assert np.allclose(got, expected), (w, got)
    assert np.allclose(numpy(dm.guided_noise(np.ones(2), np.zeros(2), 3.0)), 3.0)


def test_label_dropout_uses_the_null_class_only_in_training(monkeypatch):
    seen = []
    x_in, t_in, y_in = keras.Input((2, 2, 1)), keras.Input((), dtype="int32"), keras.Input((), dtype="int32")

    class Spy(keras.layers.Layer):
        def call(self, x, y):
            seen.append(y)
            return x

        def compute_output_shape(self, x_shape, y_shape):
            return x_shape

    model = dm.Diffusion(keras.Model([x_in, t_in, y_in], Spy()(x_in, y_in)), dm.Schedule("linear", 10),
                         num_classes=10, label_dropout=0.5, seed=0)
    labels = np.arange(2000) % 10
    model((np.zeros((2000, 2, 2, 1), "float32"), labels), training=True)
    given = numpy(seen[-1])
    assert 0.45 < np.mean(given == 10) < 0.55 and np.array_equal(given[given != 10], labels[given != 10])
    model((np.zeros((20, 2, 2, 1), "float32"), labels[:20]), training=False)
    assert np.array_equal(numpy(seen[-1]), labels[:20])


# --------------------------------------------------------------------------- the job


def test_train_diffusion_fast_writes_every_file_scores_the_asked_class_and_resamples_a_finished_run(
        tmp_path, stand_in_evaluator, monkeypatch):
    """One conditional job from the command line (the unconditional job runs in lesson 05 and in CI's
    fast jobs; resuming mid-run is test_resuming_gives_the_weights_of_an_uninterrupted_run)."""
    out = tmp_path / "d"
    args = ["train", "diffusion", "--dataset", "synthetic_digits", "--fast", "--conditional", "--width", "4",
            "--epochs", "1", "--sample-steps", "4", "--out", str(out)]
    assert main(args + ["--samples", "60", "--guidance", "2"]) == 0
    for name in ("samples.png", "samples.npz", "progress.gif", "metrics.json", "history.csv", "network.keras",
                 "checkpoints/state.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("fid_classifier", "fid_classifier_floor", "kid_classifier", "sample_class_histogram",
                "train_seconds", "sample_seconds", "images_per_second", "epochs", "examples"):
        assert key in metrics, key
    assert metrics["model"] == "diffusion" and metrics["samples"] == 60 and metrics["sample_steps"] == 4
    assert metrics["width"] == 4  # under fast mode's cap of 8, the asked width
    assert 0.0 <= metrics["asked_class_accuracy"] <= 1.0 and metrics["guidance"] == 2.0
    saved = np.load(out / "samples.npz")
    assert saved["samples"].dtype == np.uint8 and saved["samples"].shape == (60, 28, 28, 1)
    assert saved["labels"].tolist() == (np.arange(60) % 10).tolist()  # each class asked in turn
    # a finished run resumed with other measurement settings is sampled and scored again, not retrained
    assert main(args + ["--samples", "40", "--guidance", "1", "--resume"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["samples"] == 40 and metrics["guidance"] == 1.0
    assert np.load(out / "samples.npz")["labels"].shape == (40,)
    model = job.load_model(out)
    assert model.conditional and model.sample(2, steps=2, labels=np.array([3, 7])).shape == (2, 28, 28, 1)
    assert len((out / "history.csv").read_text().strip().splitlines()) == 2  # a header and the one epoch
    assert set(stand_in_evaluator) == {"synthetic_digits"}  # scored by the classifier of its own dataset
    # lesson 05 judges from a pool of twice the scored set: the saved samples first, then more, drawn once and kept,
    # with the run's own sampler settings, a seed of their own and the asked classes going on in turn
    from course.jobs import judge

    calls, sample = [], dm.Diffusion.sample

    def recorded(self, n, **kwargs):
        calls.append((n, kwargs))
        return sample(self, n, **kwargs)

    monkeypatch.setattr(dm.Diffusion, "sample", recorded)
    pool = judge.run_images(out, 100)[0]
    assert pool.shape == (100, 28, 28, 1) and pool.dtype == np.uint8
    np.testing.assert_array_equal(pool[:40], np.load(out / "samples.npz")["samples"])
    [(n, drawn)] = calls
    assert n == 60 and (drawn["sampler"], drawn["steps"], drawn["guidance"], drawn["eta"]) == ("ddim", 4, 1.0, 1.0)
    assert drawn["seed"] not in (0, 1)  # not the saved samples' seed, nor the grid's
    assert drawn["labels"].tolist() == (np.arange(40, 100) % 10).tolist()
    np.testing.assert_array_equal(np.load(out / job.MORE_SAMPLES)["labels"], drawn["labels"])
    np.testing.assert_array_equal(job.sample_pool(out, 90), pool[:90])
    assert len(calls) == 1  # kept: nothing drawn again
    # kept samples belong to the saved ones they complete: other saved samples, and they are drawn again
    saved = dict(np.load(out / "samples.npz"))
    np.savez(out / "samples.npz", samples=255 - saved["samples"], labels=saved["labels"])
    assert job.sample_pool(out, 100).shape == (100, 28, 28, 1) and len(calls) == 2
    # a run sampled again (here: resumed finished, as after a continuation) drops the pool of its old samples
    assert main(args + ["--samples", "40", "--guidance", "1", "--resume"]) == 0
    assert not (out / job.MORE_SAMPLES).exists()


def test_resuming_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    """Every random stream of the step (timesteps, noise, label dropout) is saved in the checkpoint."""
    from course import runs

    x, y = data.synthetic_digits(64, seed=0)

    def fresh():
        keras.utils.set_random_seed(0)
        model = dm.make_diffusion(width=4, timesteps=50, num_classes=10, seed=3, ema=0.5)
        ds = job.labelled_input(data.pipeline(x, y, batch_size=32, shuffle=True, seed=0, scale="symmetric"))
        return model, ds

    model, ds = fresh()
    runs.fit_resumable(model, ds, epochs=2, run=tmp_path / "a", verbose=0)
    model, ds = fresh()
    runs.fit_resumable(model, ds, epochs=1, run=tmp_path / "b", verbose=0)
    model, ds = fresh()
    runs.fit_resumable(model, ds, epochs=2, run=tmp_path / "b", verbose=0)
    first = dm.make_diffusion(width=4, timesteps=50, num_classes=10, seed=3, ema=0.5)
    second = dm.make_diffusion(width=4, timesteps=50, num_classes=10, seed=3, ema=0.5)
    runs.restore(first, runs.RunFolder(tmp_path / "a"))
    runs.restore(second, runs.RunFolder(tmp_path / "b"))
    for u, v in zip(first.network.get_weights(), second.network.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


def test_fast_mode_caps_the_width_and_the_sampler_steps_and_full_settings_keep_them():
    assert job.DiffusionJob.width(job.TrainConfig(fast=True)) == job.FAST_WIDTH < job.TrainConfig().width
    assert job.DiffusionJob.width(job.TrainConfig(fast=True, width=4)) == 4
    assert job.DiffusionJob.width(job.TrainConfig(width=32)) == 32
    assert job.DiffusionJob.steps(job.TrainConfig(fast=True)) == job.FAST_SAMPLE_STEPS
    assert job.DiffusionJob.steps(job.TrainConfig()) == 50
    # the run folder's settings hold the width the network has: fast runs asking for 16 or 32 are one run
    assert job.DiffusionJob().settings(job.TrainConfig(fast=True), "float32")["width"] == job.FAST_WIDTH
    assert (job.DiffusionJob().settings(job.TrainConfig(fast=True, width=32), "float32")
            == job.DiffusionJob().settings(job.TrainConfig(fast=True), "float32"))


def test_the_conditional_model_has_a_default_run_folder_of_its_own():
    from course import cli, config

    folders = {cli.default_run_folder("diffusion", job.TrainConfig(conditional=c, fast=f)).name
               for c in (False, True) for f in (False, True)}
    assert folders == {"diffusion-mnist", "diffusion-mnist-fast", "diffusion-mnist-conditional",
                       "diffusion-mnist-conditional-fast"}
    assert cli.default_run_folder("diffusion", job.TrainConfig()).parent == config.runs_dir()


def test_a_longer_run_continues_with_the_moving_average_it_started_with(tmp_path, stand_in_evaluator, capsys):
    """The momentum is capped by the run's length when it starts (effective_ema) and recorded in run.json; more
    epochs keep it (the same average goes on) instead of taking the longer run's cap. A run recorded before the
    momentum was (an earlier release) continues with the momentum its length now gives, and says so."""
    out = tmp_path / "d"
    args = ["train", "diffusion", "--dataset", "synthetic_digits", "--fast", "--width", "4", "--sample-steps", "2",
            "--samples", "20", "--out", str(out)]
    assert main(args + ["--epochs", "1"]) == 0
    from course.models.base import steps_per_epoch

    metrics = json.loads((out / "metrics.json").read_text())
    steps = steps_per_epoch(metrics["examples"], metrics["batch_size"])
    started, longer = (job.effective_ema(job.TrainConfig(), steps * epochs) for epochs in (1, 2))
    assert 0 < started < longer < job.TrainConfig().ema  # the cap binds, and differently for 1 and 2 epochs
    record = json.loads((out / "run.json").read_text())
    assert record["model"]["optimizers"][0]["ema_momentum"] == pytest.approx(started)
    assert json.loads((out / "metrics.json").read_text())["ema_momentum"] == pytest.approx(started)
    old = tmp_path / "old"
    shutil.copytree(out, old)
    assert main(args + ["--epochs", "2", "--resume"]) == 0
    assert json.loads((out / "metrics.json").read_text())["ema_momentum"] == pytest.approx(started)
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2
    # as an earlier release wrote it: no momentum in the model's description
    del record["model"]["optimizers"][0]["ema_momentum"], record["record_format"]
    (old / "run.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert main(args[:-1] + [str(old), "--epochs", "2", "--resume"]) == 0
    assert "did not record model.optimizers.0.ema_momentum" in capsys.readouterr().out
    assert json.loads((old / "metrics.json").read_text())["ema_momentum"] == pytest.approx(longer)


def test_a_run_too_short_for_an_average_continues_without_one(tmp_path, stand_in_evaluator):
    """Ten steps in all leave no room for an average (the cap is 0); more epochs would allow one, but the run
    has none to continue: it goes on without, instead of being refused for the average it never had."""
    out = tmp_path / "short"
    args = ["train", "diffusion", "--dataset", "synthetic_digits", "--fast", "--train-examples", "160",
            "--batch-size", "16", "--width", "4", "--sample-steps", "2", "--samples", "20", "--out", str(out)]
    assert main(args + ["--epochs", "1"]) == 0  # 10 steps
    assert json.loads((out / "metrics.json").read_text())["ema_momentum"] is None
    assert "ema_momentum" not in json.loads((out / "run.json").read_text())["model"]["optimizers"][0]
    assert job.effective_ema(job.TrainConfig(), 10) == 0 < job.effective_ema(job.TrainConfig(), 20)
    assert main(args + ["--epochs", "2", "--resume"]) == 0  # 20 steps would have one
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["ema_momentum"] is None


def test_the_averaged_weights_are_put_in_under_loss_scaling_too():
    """use_averaged_weights reads the average of the optimizer a LossScaleOptimizer (mixed precision) wraps."""
    model = dm.make_diffusion(width=4, timesteps=50, seed=3, ema=0.5)
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(
        keras.optimizers.Adam(1e-3, use_ema=True, ema_momentum=0.5)))
    x, _ = data.synthetic_digits(32, seed=0)
    model.fit(data.pipeline(x, batch_size=16, shuffle=True, seed=0, scale="symmetric"), epochs=1, verbose=0)
    average = [ops.convert_to_numpy(v) for v in model.optimizer.inner_optimizer._model_variables_moving_average]
    for variable in model.trainable_variables:
        variable.assign(np.zeros(variable.shape, "float32"))
    dm.use_averaged_weights(model)
    assert job.DiffusionJob.momentum(model) == 0.5  # what metrics.json reports, read through the wrapper too
    assert any(np.abs(a).sum() > 0 for a in average)
    for variable, a in zip(model.trainable_variables, average):
        np.testing.assert_allclose(ops.convert_to_numpy(variable), a)


def test_effective_ema_averages_over_at_most_a_tenth_of_the_run():
    cfg = job.TrainConfig(ema=0.999)
    assert job.effective_ema(cfg, 100) == pytest.approx(0.9)
    assert job.effective_ema(cfg, 10**6) == pytest.approx(0.999)
    assert job.effective_ema(job.TrainConfig(ema=0.0), 100) == 0.0


# --------------------------------------------------------------------------- the lesson's checks


def test_check_q_sample_rejects_the_typical_mistakes(monkeypatch):
    """Guards D1 in exercise 06.1."""
    def take(a, t):
        return np.asarray(a)[np.clip(np.asarray(t), 0, len(a) - 1)].reshape(-1, 1, 1, 1)

    def right(x0, t, noise, ab):  # another correct form
        a = ops.take(ops.convert_to_tensor(ab), ops.convert_to_tensor(t), axis=0)[:, None, None, None]
        return ops.sqrt(a) * x0 + ops.sqrt(1 - a) * noise

    assert_rejects(checks.check_q_sample, {
        "one timestep off": lambda x0, t, n, ab: np.sqrt(take(ab, t - 1)) * x0 + np.sqrt(1 - take(ab, t - 1)) * n,
        "without square roots": lambda x0, t, n, ab: take(ab, t) * x0 + (1 - take(ab, t)) * n,
        "noise is scaled by 1 - alpha_bar": lambda x0, t, n, ab: np.sqrt(take(ab, t)) * x0 + (1 - take(ab, t)) * n,
        "swapped": lambda x0, t, n, ab: np.sqrt(1 - take(ab, t)) * x0 + np.sqrt(take(ab, t)) * n,
        "first image's timestep": lambda x0, t, n, ab: np.sqrt(ab[t[0]]) * x0 + np.sqrt(1 - ab[t[0]]) * n,
        "(batch, 1, 1, 1)": lambda x0, t, n, ab: (np.sqrt(ab[t]) * x0.T).T[..., 0],
    }, right, monkeypatch=monkeypatch)


def test_check_diffusion_loss_rejects_the_typical_mistakes(monkeypatch):
    """Guards D1 and D3 in exercise 06.2."""
    def x_t(x0, t, n, ab, k=0):
        return dm.q_sample(x0, np.clip(t + k, 0, len(ab) - 1), n, ab)

    def right(x0, t, n, predict, ab):
        return np.mean(np.square(numpy(predict(x_t(x0, t, n, ab), t)) - n))

    assert_rejects(checks.check_diffusion_loss, {
        "clean image x0 (D3)": lambda x0, t, n, p, ab: np.mean((x0 - p(x_t(x0, t, n, ab), t)) ** 2),
        "shown the clean image": lambda x0, t, n, p, ab: np.mean((n - p(x0, t)) ** 2),
        "timestep one off": lambda x0, t, n, p, ab: np.mean((n - p(x_t(x0, t, n, ab), t + 1)) ** 2),
        "alpha_bar one timestep off": lambda x0, t, n, p, ab: np.mean((n - p(x_t(x0, t, n, ab, -1), t)) ** 2),
        "summed over the pixels": lambda x0, t, n, p, ab: np.mean(np.sum((n - p(x_t(x0, t, n, ab), t)) ** 2,
                                                                         axis=(1, 2, 3))),
        "never called": lambda x0, t, n, p, ab: np.mean(n ** 2),
    }, right, monkeypatch=monkeypatch)


def test_check_ddpm_step_rejects_the_typical_mistakes(monkeypatch):
    """Guards D1 and D3 in exercise 06.3."""
    def c(a, t, k=0):
        return np.asarray(a)[np.clip(np.asarray(t) + k, 0, len(a) - 1)].reshape(-1, 1, 1, 1)

    def mean(x, t, e, b, ab, k=0, sign=-1):
        return (x + sign * c(b, t, k) / np.sqrt(1 - c(ab, t, k)) * e) / np.sqrt(1 - c(b, t, k))

    def right(x, t, e, z, b, ab, pv):
        return mean(x, t, e, b, ab) + np.sqrt(c(pv, t)) * z

    def as_x0(x, t, e, z, b, ab, pv):
        a_prev = np.concatenate([[1.0], ab[:-1]])
        return (np.sqrt(c(a_prev, t)) * c(b, t) / (1 - c(ab, t)) * e
                + np.sqrt(1 - c(b, t)) * (1 - c(a_prev, t)) / (1 - c(ab, t)) * x + np.sqrt(c(pv, t)) * z)

    assert_rejects(checks.check_ddpm_step, {
        "no noise is added": lambda x, t, e, z, b, ab, pv: mean(x, t, e, b, ab),
        "variance beta_t": lambda x, t, e, z, b, ab, pv: mean(x, t, e, b, ab) + np.sqrt(c(b, t)) * z,
        "added instead of removed": lambda x, t, e, z, b, ab, pv: mean(x, t, e, b, ab, sign=1) + np.sqrt(c(pv, t)) * z,
        "one timestep off (D1)": lambda x, t, e, z, b, ab, pv: mean(x, t, e, b, ab, k=-1) + np.sqrt(c(pv, t, -1)) * z,
        "clean image x0 (D3)": as_x0,
        "sqrt(alpha_t)": lambda x, t, e, z, b, ab, pv: x - c(b, t) / np.sqrt(1 - c(ab, t)) * e + np.sqrt(c(pv, t)) * z,
    }, right, monkeypatch=monkeypatch)


def test_check_guidance_rejects_the_typical_mistakes(monkeypatch):
    """Guards D5 in exercise 06.4."""
    assert_rejects(checks.check_guidance, {
        "towards the unconditional one (D5)": lambda ec, eu, w: ec + w * (eu - ec),
        "sign is flipped": lambda ec, eu, w: eu - w * (ec - eu),
        "(1 + w) convention": lambda ec, eu, w: ec + w * (ec - eu),
        "not used": lambda ec, eu, w: w * ec,
    }, lambda ec, eu, w: (1 - w) * eu + w * ec, monkeypatch=monkeypatch)


def test_unsolved_diffusion_exercises_say_not_done_and_hand_back_the_course_version():
    def not_done(*args):
        raise NotImplementedError()

    for check in (checks.check_q_sample, checks.check_diffusion_loss, checks.check_ddpm_step, checks.check_guidance):
        status, _, returned = run(check, not_done)
        assert status == "not done" and returned is not not_done


def test_the_embedding_scales_and_shifts_each_block_after_its_normalisation():
    """A per-channel shift added before a group normalisation is partly removed by it; the course's
    block applies the embedding after the normalisation, so a block's output moves with the class."""
    keras.utils.set_random_seed(0)
    net = dm.build_unet((8, 8, 1), 8, num_classes=3)
    probe = keras.Model(net.inputs, net.get_layer("down1_conv2").output)
    x = np.random.default_rng(0).standard_normal((3, 8, 8, 1)).astype("float32")
    t = np.array([5, 5, 5], "int32")
    emb = net.get_layer("down1_emb")
    kernel, bias = emb.get_weights()
    channels = kernel.shape[1] // 2
    assert kernel.shape[1] == 2 * net.get_layer("down1_conv1").filters  # a scale and a shift per channel
    # a shift of every channel by the same amount survives the block (it would vanish before the norm)
    base = numpy(probe([x, t, np.zeros(3, "int32")]))
    emb.set_weights([kernel, bias + np.concatenate([np.zeros(channels), np.full(channels, 3.0)]).astype("float32")])
    moved = numpy(probe([x, t, np.zeros(3, "int32")]))
    assert np.abs(moved - base).mean() > 0.05


def test_the_label_reaches_the_predicted_noise_and_the_null_class_is_a_class_of_its_own():
    """The conditional network's output depends on the label (each of the ten, and the null class
    differs from all of them): a label path that was cut, or a null class folded into a digit, fails."""
    keras.utils.set_random_seed(0)
    net = dm.build_unet((8, 8, 1), 4, num_classes=10)
    x = np.repeat(np.random.default_rng(0).standard_normal((1, 8, 8, 1)).astype("float32"), 11, axis=0)
    t = np.full(11, 500, "int32")
    out = numpy(net([x, t, np.arange(11, dtype="int32")])).reshape(11, -1)  # labels 0..9 and the null class 10
    gaps = np.abs(out[:, None] - out[None, :]).mean(axis=-1)
    assert gaps[~np.eye(11, dtype=bool)].min() > 1e-6


def test_ddim_with_eta_one_over_consecutive_timesteps_is_the_ancestral_step():
    """DDIM's noise term at eta = 1 is the DDPM posterior's: over t -> t-1 the two steps agree."""
    arrays = dm.Schedule("cosine", 100).arrays()
    rng = np.random.default_rng(0)
    x, eps, z = (rng.standard_normal((3, 4, 4, 1)).astype("float32") for _ in range(3))
    t = np.array([1, 40, 99], "int32")
    ddpm = numpy(dm.ddpm_step(x, t, eps, z, arrays["betas"], arrays["alpha_bars"], arrays["posterior_variance"]))
    ddim = numpy(dm.ddim_step(x, t, t - 1, eps, arrays["alpha_bars"], eta=1.0, z=z, clip=False))
    np.testing.assert_allclose(ddim, ddpm, rtol=1e-4, atol=1e-4)
    deterministic = numpy(dm.ddim_step(x, t, t - 1, eps, arrays["alpha_bars"], eta=0.0, z=z, clip=False))
    assert np.abs(deterministic - ddpm).max() > 1e-2


def test_the_clipped_ancestral_step_is_the_textbook_step_while_x0_is_in_range_and_bounded_after():
    """The sampler's DDPM step takes its mean from x0_hat clipped to [-1, 1]: the same mean as the noise form
    wherever x0_hat is inside, and a bounded one at the cosine schedule's first reverse step (1 - beta = 0.001),
    where the noise form multiplies the network's error by about 1 / sqrt(0.001); its last step returns the
    clipped x0_hat itself, to float32 precision over T = 1000 steps."""
    s = dm.Schedule("cosine", 100).arrays()
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-0.9, 0.9, (4, 5, 5, 1)).astype("float32")
    noise, z = (rng.standard_normal(x0.shape).astype("float32") for _ in range(2))
    t = np.array([0, 20, 60, 90], "int32")
    x_t = numpy(dm.q_sample(x0, t, noise, s["alpha_bars"]))
    args = (s["betas"], s["alpha_bars"], s["posterior_variance"])
    np.testing.assert_allclose(numpy(dm.ddpm_step(x_t, t, noise, z, *args, clip=True)),
                               numpy(dm.ddpm_step(x_t, t, noise, z, *args)), rtol=1e-4, atol=1e-4)
    last = np.full(4, 99, "int32")  # beta = 0.999: the first reverse step
    x_t = numpy(dm.q_sample(x0, last, noise, s["alpha_bars"]))
    wrong = noise + 0.1 * rng.standard_normal(x0.shape).astype("float32")  # a network 10% off
    zero = np.zeros_like(z)
    textbook = numpy(dm.ddpm_step(x_t, last, wrong, zero, *args))
    clipped = numpy(dm.ddpm_step(x_t, last, wrong, zero, *args, clip=True))
    assert np.abs(textbook).max() > 1.0  # the error, times about 32
    a_prev = s["alpha_bars"][98]
    assert np.abs(clipped - np.sqrt(1 - s["betas"][99]) * (1 - a_prev) / (1 - s["alpha_bars"][99]) * x_t).max() \
        <= np.sqrt(a_prev) * s["betas"][99] / (1 - s["alpha_bars"][99]) + 1e-6  # the x0 term is at most its weight

    s = dm.Schedule("cosine", 1000).arrays()  # betas from 4e-5: 1 - alpha_bar in float32 would lose digits
    t0 = np.zeros(4, "int32")
    x_t = numpy(dm.q_sample(x0, t0, noise, s["alpha_bars"]))
    x0_hat = numpy(dm.predict_x0(x_t, t0, wrong, s["alpha_bars"]))
    np.testing.assert_allclose(numpy(dm.ddpm_step(x_t, t0, wrong, z, s["betas"], s["alpha_bars"],
                                                  s["posterior_variance"], clip=True)),
                               np.clip(x0_hat, -1, 1), atol=1e-6)


def test_the_ancestral_sampler_is_ddim_at_eta_one_over_every_timestep():
    """Diffusion.sample's DDPM clips x0_hat as DDIM does: over all T timesteps at eta = 1 the two samplers are
    one (with the textbook step they part wherever an untrained network's x0_hat leaves [-1, 1])."""
    keras.utils.set_random_seed(0)
    model = dm.Diffusion(dm.build_unet((8, 8, 1), 4), dm.Schedule("cosine", 20))
    ddpm = model.sample(3, sampler="ddpm", seed=5)
    ddim = model.sample(3, sampler="ddim", steps=20, eta=1.0, seed=5)
    np.testing.assert_allclose(ddpm, ddim, atol=2e-4)
    textbook = model.sample(3, sampler="ddpm", seed=5, clip=False)  # what the benchmark's --unclipped measures
    assert np.abs(textbook - ddpm).max() > 1e-2


def test_the_benchmark_refuses_unclipped_without_the_ancestral_sampler(capsys):
    from course.benchmarks import diffusion as bench

    with pytest.raises(SystemExit):
        bench.main(["--run", "no-such-run", "--unclipped"])
    assert "give --ddpm too" in capsys.readouterr().err


def test_sampling_with_eta_draws_fresh_noise_reproducibly_and_refuses_bad_eta():
    keras.utils.set_random_seed(0)
    model = dm.Diffusion(dm.build_unet((8, 8, 1), 4), dm.Schedule("linear", 20))
    quiet = model.sample(4, steps=5, seed=3)
    noisy = model.sample(4, steps=5, seed=3, eta=1.0)
    assert np.abs(noisy - quiet).max() > 1e-3
    np.testing.assert_array_equal(noisy, model.sample(4, steps=5, seed=3, eta=1.0))
    for bad in (-0.1, 1.5):
        with pytest.raises(CourseError, match="eta"):
            model.sample(2, steps=2, eta=bad)
