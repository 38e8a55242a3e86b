import json
import subprocess
import sys
import textwrap

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
    return data.to_symmetric(x)


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
    assert float(np.max(np.abs(out))) <= 1.0


def test_generator_step_changes_g_and_leaves_d_alone(gan):
    """Guards G3 and G5: G is trained through D, and D's weights are held fixed while it is."""
    d_before, g_before = weights(gan.discriminator), weights(gan.generator)
    gan.g_step(16)
    assert not any(changed(d_before, gan.discriminator))
    trainable = [v.path for v in gan.generator.trainable_variables]
    moved = {v.path for v, c in zip(gan.generator.weights, changed(g_before, gan.generator)) if c}
    assert set(trainable) <= moved


def test_discriminator_step_changes_d_and_leaves_g_weights_alone(gan):
    d_before = weights(gan.discriminator)
    g_trainable = [v.numpy().copy() for v in gan.generator.trainable_variables]
    gan.d_step(real_batch())
    assert all(changed(d_before, gan.discriminator))
    for before, v in zip(g_trainable, gan.generator.trainable_variables):
        np.testing.assert_array_equal(before, v.numpy())


def test_discriminator_learns_that_the_data_is_real_and_fakes_are_fake(gan):
    """Guards G2 and G6: D is shown dataset images labelled real, not noise, and fakes labelled fake."""
    real = real_batch(64)
    for _ in range(15):
        gan.d_step(real)
    sig = lambda x: float(np.mean(keras.ops.sigmoid(gan.discriminator(x, training=False))))  # noqa: E731
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
        assert int(new.iterations) == int(old.iterations) == 8
        for a, b in zip(old.variables, new.variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(gan.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    # the model-owned noise generator resumes too, so the run does not replay its first epoch's noise
    np.testing.assert_array_equal(gan.seed_generator.state.numpy(), fresh.seed_generator.state.numpy())


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_mixed_precision_keeps_float32_outputs_and_scales_the_loss(mixed_precision):
    gan = dcgan.make_dcgan((28, 28, 1), seed=0)
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert gan.generator.output.dtype == "float32" and gan.discriminator.output.dtype == "float32"
    # A loss scale so large that float16 gradients overflow: the scaled step must be skipped and
    # the scale lowered, which only happens if train_step really scales the loss.
    gan.g_optimizer.dynamic_scale.assign(2.0**40)
    before = weights(gan.generator)
    gan.g_step(8)
    assert float(gan.g_optimizer.dynamic_scale) < 2.0**40
    trainable = {v.path for v in gan.generator.trainable_variables}
    moved = [v.path for v, c in zip(gan.generator.weights, changed(before, gan.generator)) if c and v.path in trainable]
    assert moved == []
    gan.g_optimizer.dynamic_scale.assign(2.0**10)
    gan.g_step(8)
    assert any(changed(before, gan.generator))
    assert all(np.all(np.isfinite(w)) for w in gan.generator.get_weights())


def test_jit_compiled_training_runs():
    x, _ = data.synthetic_digits(64, seed=0)
    gan = dcgan.make_dcgan((28, 28, 1), seed=0)
    gan.compile(gan.d_optimizer, gan.g_optimizer, jit_compile=True)
    history = gan.fit(data.pipeline(x, batch_size=32, scale="symmetric", drop_remainder=True), epochs=1, verbose=0,
                      shuffle=False)
    assert np.isfinite(history.history["g_loss"][-1])


def test_mirrored_strategy_on_two_logical_cpus():
    script = textwrap.dedent("""
        import json, numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from course import data
        from course.models import dcgan
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            gan = dcgan.make_dcgan((28, 28, 1), seed=0)
        x, _ = data.synthetic_digits(128, seed=0)
        before = [w.copy() for w in gan.generator.get_weights()]
        h = gan.fit(data.pipeline(x, batch_size=32, scale="symmetric", drop_remainder=True), epochs=1, verbose=0,
                    shuffle=False)
        moved = any(not np.array_equal(a, b) for a, b in zip(before, gan.generator.get_weights()))
        print(json.dumps({"replicas": strategy.num_replicas_in_sync, "moved": moved,
                          "g_loss": float(h.history["g_loss"][-1]), "steps": int(gan.g_optimizer.iterations.numpy())}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["moved"] and np.isfinite(report["g_loss"]) and report["steps"] == 4


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
