import keras
import numpy as np
import pytest

from course import data, runs
from course.errors import ShapeError
from course.models import dcgan


def weights(model):
    return [w.copy() for w in model.get_weights()]


def changed(before, model):
    return [not np.array_equal(a, b) for a, b in zip(before, model.get_weights())]


@pytest.fixture
def gan():
    keras.utils.set_random_seed(0)
    return dcgan.make_dcgan((28, 28, 1), seed=0, learning_rate=1e-3)


def real_batch(n=32):
    x, _ = data.synthetic_digits(n, seed=3)
    return data.to_symmetric(x)  # NumPy in [-1, 1]


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar10", "synthetic_digits"])
def test_generator_output_fits_discriminator_input(dataset):
    """Guards G1: G's image shape is D's input shape, for every dataset."""
    shape = data.spec(dataset).image_shape
    g, d = dcgan.build_generator(shape), dcgan.build_discriminator(shape)
    assert g.output_shape[1:] == shape == d.input_shape[1:]
    assert d(g(np.zeros((2, dcgan.LATENT_DIM), "float32"))).shape == (2, 1)


def test_mismatched_networks_are_refused_with_both_shapes():
    """Guards G1 and G10: shapes are checked where G meets D, and the noise size too."""
    with pytest.raises(ShapeError, match=r"\(32, 32, 3\).*\(28, 28, 1\)"):
        dcgan.DCGAN(dcgan.build_generator((32, 32, 3)), dcgan.build_discriminator((28, 28, 1)))
    with pytest.raises(ShapeError, match="noise of size 64"):
        dcgan.DCGAN(dcgan.build_generator((28, 28, 1)), dcgan.build_discriminator((28, 28, 1)), latent_dim=10)


def test_generator_is_not_a_single_linear_map():
    """Guards G9: the generator is a deep non-linear network ending in tanh."""
    g = dcgan.build_generator((28, 28, 1))
    assert sum(isinstance(l, (keras.layers.Conv2DTranspose, keras.layers.Conv2D)) for l in g.layers) >= 3
    out = g(np.random.default_rng(0).normal(size=(4, 64)).astype("float32") * 10)
    assert float(np.max(np.abs(keras.ops.convert_to_numpy(out)))) <= 1.0


class Batches(keras.utils.PyDataset):
    """The same batch ``steps`` times, on every backend."""

    def __init__(self, batch, steps=1):
        super().__init__()
        self.batch, self.steps = keras.ops.convert_to_numpy(batch), steps

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        return self.batch


def train_steps(gan, real, d_rate, g_rate, steps=1):
    """``steps`` whole train steps (D, then G) with the two optimizers at the rates given."""
    gan.d_optimizer.learning_rate, gan.g_optimizer.learning_rate = d_rate, g_rate
    gan.fit(Batches(real, steps), epochs=1, verbose=0, shuffle=False)


def test_the_generator_update_changes_g_and_leaves_d_alone(gan):
    """Guards G3 and G5: G is trained through D, and D's weights are held fixed while it is."""
    d_before, g_before = weights(gan.discriminator), weights(gan.generator)
    train_steps(gan, real_batch(16), d_rate=0.0, g_rate=1e-3)
    assert not any(changed(d_before, gan.discriminator))
    trainable = [v.path for v in gan.generator.trainable_variables]
    moved = {v.path for v, c in zip(gan.generator.weights, changed(g_before, gan.generator)) if c}
    assert set(trainable) <= moved


def test_the_discriminator_update_changes_d_and_leaves_g_weights_alone(gan):
    d_before = weights(gan.discriminator)
    g_trainable = [keras.ops.convert_to_numpy(v.value).copy() for v in gan.generator.trainable_variables]
    train_steps(gan, real_batch(), d_rate=1e-3, g_rate=0.0)
    assert all(changed(d_before, gan.discriminator))
    for before, v in zip(g_trainable, gan.generator.trainable_variables):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(v.value))


def test_discriminator_learns_that_the_data_is_real_and_fakes_are_fake(gan):
    """Guards G2 and G6: D is shown dataset images labelled real, not noise, and fakes labelled fake."""
    real = real_batch(64)
    train_steps(gan, real, d_rate=1e-3, g_rate=0.0, steps=15)
    sig = lambda x: float(keras.ops.convert_to_numpy(  # noqa: E731
        keras.ops.mean(keras.ops.sigmoid(gan.discriminator(x, training=False)))))
    noise = np.random.default_rng(0).normal(size=real.shape).astype("float32")
    fakes = gan.generator(gan.noise(64), training=False)
    assert sig(real) > 0.7
    assert sig(real) > sig(noise) + 0.3 and sig(real) > sig(fakes) + 0.3


def test_a_short_run_on_synthetic_digits_moves_d_of_x_above_d_of_g_of_z():
    x, _ = data.synthetic_digits(512, seed=0)
    gan = dcgan.make_dcgan((28, 28, 1), seed=0)
    history = gan.fit(data.pipeline(x, batch_size=32, shuffle=True, seed=0, scale="symmetric", drop_remainder=True),
                      epochs=1, verbose=0, shuffle=False).history
    assert history["D(x)"][-1] > history["D(G(z))"][-1]
    assert np.isfinite(history["d_loss"][-1]) and np.isfinite(history["g_loss"][-1])


def test_resume_restores_both_networks_and_both_optimizers(tmp_path):
    x, _ = data.synthetic_digits(256, seed=0)
    ds = data.pipeline(x, batch_size=32, scale="symmetric", drop_remainder=True)
    gan = dcgan.make_dcgan((28, 28, 1), seed=0)
    runs.fit_resumable(gan, ds, epochs=1, run=tmp_path, verbose=0)
    fresh = dcgan.make_dcgan((28, 28, 1), seed=7)
    done, history = runs.restore(fresh, runs.RunFolder(tmp_path))
    assert done == 1 and len(history["d_loss"]) == 1
    for old, new in ((gan.d_optimizer, fresh.d_optimizer), (gan.g_optimizer, fresh.g_optimizer)):
        assert int(keras.ops.convert_to_numpy(new.iterations)) == int(keras.ops.convert_to_numpy(old.iterations)) == 8
        for a, b in zip(old.variables, new.variables):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a.value), keras.ops.convert_to_numpy(b.value))
    for a, b in zip(gan.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    # the model-owned noise generator resumes too, so the run does not replay its first epoch's noise
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(gan.seed_generator.state.value),
                                  keras.ops.convert_to_numpy(fresh.seed_generator.state.value))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="XLA through jit_compile is TensorFlow's")
def test_jit_compiled_training_runs():
    x, _ = data.synthetic_digits(64, seed=0)
    gan = dcgan.make_dcgan((28, 28, 1), seed=0)
    gan.compile(gan.d_optimizer, gan.g_optimizer, jit_compile=True)
    history = gan.fit(data.pipeline(x, batch_size=32, scale="symmetric", drop_remainder=True), epochs=1, verbose=0,
                      shuffle=False)
    assert np.isfinite(history.history["g_loss"][-1])


def test_sample_and_load_generator_in_two_lines(tmp_path):
    from course.jobs.dcgan import load_generator

    g = dcgan.build_generator((28, 28, 1))
    g.save(tmp_path / "generator.keras")
    generator = load_generator(tmp_path)
    images = dcgan.sample(generator, 5)
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, dcgan.sample(generator, 5))  # fixed seed, same samples


def test_a_discriminator_ten_times_faster_starves_the_minimax_generator_but_not_the_non_saturating_one():
    """Lesson 02's "When GANs fail", measured: with D's rate 10x G's, D rejects the fakes, and G's gradient
    vanishes under the minimax loss while the non-saturating one keeps it strong (erratum G10's failure modes)."""
    from course import evaluation

    x, _ = data.synthetic_digits(2048, seed=0)
    real, z = data.to_symmetric(x[:64]), dcgan.fixed_noise(64, dcgan.LATENT_DIM, seed=5)
    gradient = {}
    for kind in ("non_saturating", "minimax"):
        keras.utils.set_random_seed(0)
        gan = dcgan.make_dcgan((28, 28, 1), seed=0, g_loss=kind)
        gan.compile(keras.optimizers.Adam(2e-3, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5), g_loss=kind)
        monitor = evaluation.GameMonitor(real, z, every=8)
        gan.fit(data.pipeline(x, batch_size=64, shuffle=True, seed=0, scale="symmetric", drop_remainder=True),
                epochs=1, verbose=0, callbacks=[monitor], shuffle=False)
        steps, norms = monitor.series("G gradient norm")
        _, fooled = monitor.series("D(G(z))")
        assert list(steps) == [0, 8, 16, 24, 32] and fooled[-1] < 0.2  # D wins in both runs
        gradient[kind] = norms[2:].mean()  # from step 16 on
    assert gradient["minimax"] < 0.1 * gradient["non_saturating"], gradient


def test_the_game_probe_changes_nothing():
    gan = dcgan.make_dcgan((28, 28, 1), seed=0)
    before = weights(gan)
    state = gan.game_state(real_batch(8), dcgan.fixed_noise(8))
    assert not any(changed(before, gan))  # weights and BatchNorm statistics as they were
    assert 0 < state["D(x)"] < 1 and 0 < state["D(G(z))"] < 1 and state["G gradient norm"] > 0


def test_the_generator_is_never_fitted_to_labels():
    """Guards G4: G has no loss of its own; its gradient comes through D's judgement of its images."""
    gan = dcgan.make_dcgan((28, 28, 1), seed=0)
    assert gan.generator.compiled is False or getattr(gan.generator, "loss", None) is None
    assert gan.generator.output_shape == (None, 28, 28, 1)  # an image, not a label
    z = dcgan.fixed_noise(8)
    g_before = gan.game_state(real_batch(8), z)["G gradient norm"]
    for w in gan.discriminator.trainable_variables:  # another judge gives G another gradient
        w.assign(w.value * 0.5)
    assert gan.game_state(real_batch(8), z)["G gradient norm"] != pytest.approx(g_before, rel=1e-3)


def test_two_optimizers_each_own_one_network_and_no_graph_era_api_is_used():
    """Guards G8: no tf.Session / placeholder / tf.compat.v1; not one optimizer minimising the sum of losses."""
    import pathlib

    gan = dcgan.make_dcgan((28, 28, 1), seed=0)
    assert gan.d_optimizer is not gan.g_optimizer
    assert {id(v) for v in gan.d_optimizer._trainable_variables} == {id(v) for v in gan.discriminator.trainable_variables}
    assert {id(v) for v in gan.g_optimizer._trainable_variables} == {id(v) for v in gan.generator.trainable_variables}
    package = pathlib.Path(dcgan.__file__).resolve().parents[1]
    for path in package.rglob("*.py"):
        text = path.read_text()
        for dead in ("tf.Session", "tf.placeholder", "compat.v1", "variable_scope", "tf.layers."):
            assert dead not in text, f"{path} uses {dead}"


def test_no_unused_optimizer_is_built_or_saved(tmp_path):
    """compile() builds no optimizer of the model's own: a checkpoint holds D's and G's optimizers only."""
    import h5py

    gan = dcgan.make_dcgan((28, 28, 1), seed=0)
    gan.save_weights(tmp_path / "gan.weights.h5")
    with h5py.File(tmp_path / "gan.weights.h5", "r") as f:
        names = []
        f.visit(names.append)
    optimizer_groups = {n.split("/")[0] for n in names if "optimizer" in n.split("/")[0]}
    assert optimizer_groups == {"d_optimizer", "g_optimizer"}, optimizer_groups


def test_xla_is_asked_for_on_a_tensorflow_gpu_only():
    """A CPU run keeps TensorFlow's kernels (whether XLA pays there depends on the machine: the records
    throughput.tf_cpu and speed.xla_cpu), a GPU run compiles; JAX always compiles, PyTorch never."""
    from course import backend, devices

    gan = dcgan.make_dcgan((28, 28, 1), seed=0, jit_compile="gpu")
    expected = {"tensorflow": bool(devices.gpus()), "jax": True, "torch": False}[keras.backend.backend()]
    assert bool(gan.jit_compile) == expected == backend.jit_compile("gpu") == backend.jit_compile(True)
    assert backend.jit_compile("never") == backend.jit_compile(False) == (keras.backend.backend() == "jax")
    # "always": XLA on a CPU too (what `benchmark epoch_speed --xla` times); a typo is refused
    assert backend.jit_compile("always") == (keras.backend.backend() in ("tensorflow", "jax"))
    for typo in ("yes", "Always", 1, None):
        with pytest.raises(ValueError, match="gpu, always, never"):
            backend.jit_compile(typo)


def test_the_moving_average_of_g_is_the_average_of_its_steps_and_changes_neither_training_nor_d():
    """``ema``: training is the same step for step; at the end G holds the exponential moving average of
    its weights after each step (momentum 0.5 over three steps: 1/4, 1/4, 1/2), D its last weights."""
    real = real_batch(16)
    trained = {}
    for ema in (0.0, 0.5):
        keras.utils.set_random_seed(0)
        gan = dcgan.make_dcgan((28, 28, 1), seed=0, learning_rate=1e-3, ema=ema)
        after = []
        for _ in range(3):  # one step per fit (JAX syncs the variables when fit returns)
            gan.fit(Batches(real, 1), epochs=1, verbose=0, shuffle=False)
            after.append([keras.ops.convert_to_numpy(v.value).copy() for v in gan.generator.trainable_variables])
        d_last = weights(gan.discriminator)
        dcgan.use_averaged_weights(gan)
        dcgan.use_averaged_weights(gan)  # the same again
        for a, b in zip(d_last, gan.discriminator.get_weights()):
            np.testing.assert_array_equal(a, b)
        trained[ema] = after, [keras.ops.convert_to_numpy(v.value) for v in gan.generator.trainable_variables]
    (steps, plain), (steps_ema, averaged) = trained[0.0], trained[0.5]
    for a, b in zip(steps[-1], steps_ema[-1]):  # the moving average does not change what is trained
        np.testing.assert_array_equal(a, b)
    for last, got in zip(steps[-1], plain):  # without it, G keeps its last weights
        np.testing.assert_array_equal(last, got)
    for w1, w2, w3, got in zip(*steps_ema, averaged):
        np.testing.assert_allclose(got, 0.25 * w1 + 0.25 * w2 + 0.5 * w3, rtol=1e-5, atol=1e-6)
        assert not np.allclose(got, w3)


def test_a_moving_average_outside_zero_to_one_is_refused_at_once():
    from course.errors import CourseError
    from course.jobs import dcgan as job

    with pytest.raises(CourseError, match="--ema 1"):
        job.TrainConfig(dataset="synthetic_digits", epochs=1, fast=True, ema=1.0)


def test_the_job_samples_from_the_average_and_its_checkpoint_keeps_the_last_weights(tmp_path, stand_in_evaluator):
    from course.jobs import dcgan as job

    cfg = job.TrainConfig(dataset="synthetic_digits", epochs=1, fast=True, ema=0.5, samples=100)
    job.train(cfg, tmp_path / "run", verbose=0)
    saved = job.load_generator(tmp_path / "run").get_weights()
    model = job.DCGANJob().build(cfg, job.DCGANJob().load(cfg))
    runs.restore(model, runs.RunFolder(tmp_path / "run"))  # the checkpoint: what a longer run continues from
    assert any(not np.allclose(a, b) for a, b in zip(model.generator.get_weights(), saved))
    dcgan.use_averaged_weights(model)
    for a, b in zip(model.generator.get_weights(), saved):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    job.train(cfg, tmp_path / "run", resume=True, verbose=0)  # a finished run resumed: the same generator
    for a, b in zip(job.load_generator(tmp_path / "run").get_weights(), saved):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_checkpoint_is_not_restored_into_a_model_whose_optimizer_keeps_other_state(tmp_path):
    """Keras would warn and skip the optimizer's state (here: G's with and without an average); the
    course refuses instead, so that no run continues with its optimizer silently reset."""
    from course.errors import RunFolderError

    x, _ = data.synthetic_digits(64, seed=0)
    ds = data.pipeline(x, batch_size=32, scale="symmetric", drop_remainder=True)
    runs.fit_resumable(dcgan.make_dcgan((28, 28, 1), seed=0), ds, epochs=1, run=tmp_path, verbose=0)
    with pytest.raises(RunFolderError, match="does not fit this model"):
        runs.restore(dcgan.make_dcgan((28, 28, 1), seed=0, ema=0.5), runs.RunFolder(tmp_path))


def test_a_run_started_before_the_moving_average_option_is_the_same_run_as_one_without_it():
    from course.jobs import dcgan as job

    dcgan_job = job.DCGANJob()
    now = dcgan_job.settings(job.TrainConfig(), "float32")
    assert now["ema"] == 0.0
    before = {k: v for k, v in now.items() if k != "ema"}  # what runs recorded before the option existed
    assert dcgan_job.upgrade_settings(before) == now
    assert dcgan_job.upgrade_settings(dcgan_job.settings(job.TrainConfig(ema=0.995), "float32"))["ema"] == 0.995
    assert "--ema" not in dcgan_job.command(before, "r")  # the command continuing an old run: no moving average
    assert "--ema 0.995" in dcgan_job.command({**before, "ema": 0.995}, "r")
