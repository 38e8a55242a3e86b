"""Lesson 04: the MNIST-M builder, CycleGAN's losses, networks, train step and resume."""
import json

import keras
import numpy as np
import pytest
from keras import ops

from course import backend, data, losses, runs
from course.errors import DataError, ShapeError
from course.models import cyclegan as cg

from conftest import write_cifar_folder, write_mnist_folder

SHAPE = (28, 28, 3)


# --------------------------------------------------------------------------- the B domain


def _digits_and_photos(n=12, seed=0):
    digits, labels = data.synthetic_digits(n, seed=seed)
    photos = np.random.default_rng(seed).integers(0, 256, (5, 32, 32, 3)).astype(np.uint8)
    return digits, labels, photos


def test_mnist_m_builder_is_deterministic_and_colour():
    digits, _, photos = _digits_and_photos()
    first = data.build_mnist_m(digits, photos, seed=3)
    assert first.shape == (12, 28, 28, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, data.build_mnist_m(digits, photos, seed=3))
    assert not np.array_equal(first, data.build_mnist_m(digits, photos, seed=4))
    # colour: the three channels differ (random photos), unlike a grey image copied three times
    assert np.mean(first[..., 0] != first[..., 1]) > 0.5


def test_mnist_m_digit_mask_matches_the_source_digit():
    digits, _, photos = _digits_and_photos()
    out = data.build_mnist_m(digits, photos, seed=3)
    patches = data.background_patches(photos, len(digits), 28, seed=3)  # the same crops the builder used
    # where there is no ink the photo shows through; where ink is full the photo is inverted
    no_ink, full_ink = digits[..., 0] == 0, digits[..., 0] == 255
    assert no_ink.any() and full_ink.any()
    np.testing.assert_array_equal(out[no_ink], patches[no_ink])
    np.testing.assert_array_equal(out[full_ink], 255 - patches[full_ink])
    # everywhere, on every channel: |photo - digit|, so the changed pixels are exactly the inked ones
    np.testing.assert_array_equal(out, np.abs(patches.astype(int) - digits.astype(int)))
    changed = (out != patches).any(axis=-1)
    assert not changed[no_ink].any() and changed[full_ink].all()


def test_background_patches_are_crops_of_the_photos():
    photos = np.arange(2 * 32 * 32 * 3, dtype=np.int64).reshape(2, 32, 32, 3) % 251
    photos = photos.astype(np.uint8)
    patches = data.background_patches(photos, 20, 28, seed=0)
    for patch in patches:
        found = any(np.array_equal(patch, photo[t:t + 28, l:l + 28])
                    for photo in photos for t in range(5) for l in range(5))
        assert found


def test_builder_rejects_bad_input():
    digits, _, photos = _digits_and_photos()
    with pytest.raises(ShapeError, match=r"\(N, H, W, 1\)"):
        data.build_mnist_m(digits[..., 0], photos)
    with pytest.raises(ShapeError, match="uint8"):
        data.background_patches(photos.astype(np.float32), 3)
    with pytest.raises(ShapeError, match="smaller"):
        data.background_patches(photos[:, :20, :20], 3, 28)


def test_load_mnist_m_from_the_two_datasets(tmp_path):
    mnist = write_mnist_folder(tmp_path / "mnist", n_train=30, n_test=10)
    write_cifar_folder(tmp_path / "cifar-10-batches-py", n=4)
    loaded = data.load("mnist_m", data_dir=tmp_path)
    (x_train, y_train), (x_test, y_test) = loaded
    assert x_train.shape == (30, 28, 28, 3) and x_test.shape == (10, 28, 28, 3) and x_train.dtype == np.uint8
    np.testing.assert_array_equal(y_train, mnist["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(y_test, mnist["t10k-labels-idx1-ubyte"])
    np.testing.assert_array_equal(x_train, data.load("mnist_m", data_dir=tmp_path).train[0])  # same seed, same data
    assert "mnist" in loaded.source.lower() and "cifar" in loaded.source.lower()
    assert data.sources("mnist_m", data_dir=tmp_path)[0]["status"] == "available"


def test_load_mnist_m_without_cifar_names_what_is_missing(tmp_path, no_data_env):
    write_mnist_folder(tmp_path / "mnist")
    with pytest.raises(DataError, match="cifar10"):
        data.load("mnist_m", data_dir=tmp_path)
    assert "needs cifar10" in data.sources("mnist_m", data_dir=tmp_path)[0]["status"]


def test_unpaired_halves_share_no_digit():
    """Guards Y3: two domains, unpaired: no digit is trained on in both."""
    a, b = data.unpaired_halves(101, seed=0)
    assert len(a) + len(b) == 101 and not set(a) & set(b)


# --------------------------------------------------------------------------- losses and layers


def test_cycle_loss_is_zero_for_identity_mappings_and_l1_otherwise():
    """Guards Y2: the objective has the cycle-consistency and identity terms."""
    rng = np.random.default_rng(0)
    a, b = (rng.uniform(-1, 1, (4, 28, 28, 3)).astype("float32") for _ in range(2))
    assert float(losses.cycle_consistency_loss(a, a, b, b)) == 0.0
    assert float(losses.cycle_consistency_loss(a, a + 0.5, b, b - 0.25)) == pytest.approx(0.75)
    # a whole CycleGAN whose G and F are the identity: zero cycle and identity terms
    inp = keras.Input(SHAPE)
    ident = keras.Model(inp, keras.layers.Identity()(inp))
    model = cg.CycleGAN(ident, ident, cg.build_discriminator(), cg.build_discriminator())
    terms, fake_a, fake_b = model.generator_losses(a, b)
    assert float(terms["cycle"]) == 0.0 and float(terms["identity"]) == 0.0
    np.testing.assert_array_equal(ops.convert_to_numpy(fake_b), a)


def test_lsgan_losses_on_hand_made_scores():
    real, fake = np.array([[1.0, 0.0]], "float32"), np.array([[0.0, 2.0]], "float32")
    # D: 0.5 * (mean((1-1)^2, (0-1)^2) + mean(0^2, 2^2)) = 0.5 * (0.5 + 2)
    assert float(losses.lsgan_discriminator_loss(real, fake)) == pytest.approx(1.25)
    # G: mean((0-1)^2, (2-1)^2) = 1; and zero when D scores every fake patch 1
    assert float(losses.lsgan_generator_loss(fake)) == pytest.approx(1.0)
    assert float(losses.lsgan_generator_loss(np.ones((2, 7, 7, 1), "float32"))) == 0.0


def test_instance_norm_normalises_each_image_and_channel_alone():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 7, 4)) * rng.uniform(0.5, 9, (3, 1, 1, 4)) + rng.uniform(-5, 5, (3, 1, 1, 4))
    layer = cg.instance_norm("in")
    y = ops.convert_to_numpy(layer(x.astype("float32")))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1, atol=1e-3)
    # an image's output does not depend on the rest of the batch (BatchNorm's would)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x[:1].astype("float32"))), y[:1], atol=1e-5)


def test_networks_fit_28_pixel_colour_images():
    g, d = cg.build_generator(SHAPE, width=8, residual_blocks=1), cg.build_discriminator(SHAPE, width=8)
    x = np.random.default_rng(0).uniform(-1, 1, (2, *SHAPE)).astype("float32")
    out = ops.convert_to_numpy(g(x))
    assert out.shape == (2, *SHAPE) and float(np.max(np.abs(out))) <= 1.0
    assert d(x).shape == (2, 7, 7, 1)  # one score per patch
    with pytest.raises(ShapeError, match="multiple of 4"):
        cg.build_generator((30, 30, 3))


def test_mismatched_domains_are_refused():
    g = cg.build_generator(SHAPE, width=4, residual_blocks=1)
    grey_d = cg.build_discriminator((28, 28, 1), width=4)
    with pytest.raises(ShapeError, match="D_A's input"):
        cg.CycleGAN(g, g, grey_d, cg.build_discriminator(SHAPE, width=4))


def test_image_pool_fills_then_mixes_old_and_new_fakes():
    pool = cg.ImagePool(size=4, image_shape=(1, 1, 1), seed=0)
    first = np.arange(1.0, 5.0, dtype="float32").reshape(4, 1, 1, 1)
    np.testing.assert_array_equal(ops.convert_to_numpy(pool(first)), first)  # filling: shown as they are
    assert int(ops.convert_to_numpy(pool.count.value)) == 4
    shown_old = 0
    for step in range(20):
        new = np.full((4, 1, 1, 1), 100.0 + step, "float32")
        out = ops.convert_to_numpy(pool(new)).ravel()
        old = out != 100.0 + step
        shown_old += old.sum()
        assert set(out[old]) <= set(range(1, 5)) | {100.0 + s for s in range(step)}
        assert int(ops.convert_to_numpy(pool.count.value)) == 4
    assert 20 < shown_old < 60  # about half of the 80 shown images came from the pool


def test_learning_rate_is_constant_then_falls_linearly_to_zero():
    schedule = cg.ConstantThenLinearDecay(2e-4, constant_steps=10, decay_steps=10)
    rates = [float(schedule(s)) for s in (0, 10, 15, 20, 25)]
    assert rates == pytest.approx([2e-4, 2e-4, 1e-4, 0.0, 0.0])
    again = cg.ConstantThenLinearDecay.from_config(schedule.get_config())
    assert float(again(15)) == pytest.approx(1e-4)


# --------------------------------------------------------------------------- the train step


def _small(seed=0, **kw):
    return cg.make_cyclegan(SHAPE, width=4, residual_blocks=1, steps_per_epoch=2, epochs=2, decay_epochs=0, pool_size=8,
                            seed=seed, **kw)


class _Pairs(keras.utils.PyDataset):
    """Batches of (a, b) on every backend."""

    def __init__(self, n=16, batch=4, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.a, self.b = (rng.uniform(-1, 1, (n, *SHAPE)).astype("float32") for _ in range(2))
        self.batch = batch

    def __len__(self):
        return len(self.a) // self.batch

    def __getitem__(self, i):
        window = slice(i * self.batch, (i + 1) * self.batch)
        return self.a[window], self.b[window]


def _pairs(n=16, batch=4, seed=0):
    return _Pairs(n, batch, seed)


def test_each_optimizer_updates_only_its_own_network():
    model = _small()  # one model, one compiled step: each optimizer in turn is the only one with a learning rate
    for moving in ("g", "f", "d_a", "d_b"):
        for name in ("g", "f", "d_a", "d_b"):
            getattr(model, f"{name}_optimizer").learning_rate = 1e-2 if name == moving else 0.0
        before = {name: [ops.convert_to_numpy(v.value).copy() for v in getattr(model, name).trainable_variables]
                  for name in ("g", "f", "d_a", "d_b")}
        model.fit(_pairs(n=8), epochs=1, verbose=0, shuffle=False)
        for name, values in before.items():
            after = [ops.convert_to_numpy(v.value) for v in getattr(model, name).trainable_variables]
            changed = [not np.array_equal(x, y) for x, y in zip(values, after)]
            if name == moving:
                assert all(changed), f"{name}: some variables got no gradient"
            else:
                assert not any(changed), f"{name} moved although only {moving}'s optimizer had a learning rate"


def test_discriminator_loss_sends_no_gradient_into_the_generators():
    model = _small()
    a, b = _pairs()[0]

    def d_loss():
        _, fake_a, fake_b = model.generator_losses(a, b)
        return model.discriminator_losses(a, b, fake_a, fake_b)[0]

    _, grads = backend.value_and_grad(d_loss, model.f.trainable_variables + model.g.trainable_variables)
    assert all(g is None or not np.any(ops.convert_to_numpy(g)) for g in grads)


def test_a_short_run_lowers_the_cycle_loss():
    model = _small()
    model.g_optimizer.learning_rate = model.f_optimizer.learning_rate = 3e-3
    history = model.fit(_pairs(n=40), epochs=3, verbose=0, shuffle=False).history
    assert history["cycle"][-1] < history["cycle"][0]
    for key in ("G_adv", "F_adv", "cycle", "identity", "D_A", "D_B"):
        assert np.isfinite(history[key]).all()


def test_resume_restores_all_four_optimizers_and_the_pools(tmp_path):
    model = _small(seed=0)
    runs.fit_resumable(model, _pairs(), epochs=1, run=tmp_path, verbose=0)
    fresh = _small(seed=7)
    done, history = runs.restore(fresh, runs.RunFolder(tmp_path))
    assert done == 1 and len(history["cycle"]) == 1
    for old, new in zip(model.optimizers, fresh.optimizers):
        assert int(ops.convert_to_numpy(new.iterations)) == int(ops.convert_to_numpy(old.iterations)) == 4
        for x, y in zip(old.variables, new.variables):
            np.testing.assert_array_equal(ops.convert_to_numpy(x.value), ops.convert_to_numpy(y.value))
    for x, y in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(x, y)
    for old, new in ((model.pool_a, fresh.pool_a), (model.pool_b, fresh.pool_b)):
        assert int(ops.convert_to_numpy(new.count.value)) == int(ops.convert_to_numpy(old.count.value)) == 8
        for x, y in ((new.seed_generator.state, old.seed_generator.state), (new.images, old.images)):
            np.testing.assert_array_equal(ops.convert_to_numpy(x.value), ops.convert_to_numpy(y.value))


# --------------------------------------------------------------------------- the train job


def test_the_job_asks_for_xla_as_set_and_never_in_fast_mode(monkeypatch):
    """``--jit-compile always`` (XLA on a CPU too) reaches the model as it is; fast mode turns XLA off."""
    from types import SimpleNamespace

    from course.jobs import cyclegan as cyclegan_job

    monkeypatch.setattr(cyclegan_job.cg, "make_cyclegan", lambda *args, **kwargs: kwargs["jit_compile"])
    job = cyclegan_job.CycleGANJob()
    job.domains = SimpleNamespace(train_a=np.zeros((64, 1)), train_b=np.zeros((64, 1)))
    d = SimpleNamespace(batch_size=32, epochs=2)
    asked = {(setting, fast): job.build(cyclegan_job.TrainConfig(fast=fast, jit_compile=setting), d)
             for setting in ("gpu", "always", "never") for fast in (False, True)}
    assert asked == {("gpu", False): "gpu", ("always", False): "always", ("never", False): "never",
                     ("gpu", True): "never", ("always", True): "never", ("never", True): "never"}


def test_a_fast_run_records_the_compilation_it_ran_with():
    """A fast run is never compiled: it records "never" whatever ``--jit-compile`` says, and a fast run an
    earlier release recorded as asked ("gpu", or true) reads as the same run; a full run keeps its choice."""
    from course.jobs import cyclegan as cyclegan_job

    job = cyclegan_job.CycleGANJob()
    fast = {choice: job.settings(cyclegan_job.TrainConfig(fast=True, jit_compile=choice), "float32")
            for choice in ("gpu", "always", "never")}
    assert fast["gpu"] == fast["always"] == fast["never"] and fast["gpu"]["jit_compile"] == "never"
    assert job.settings(cyclegan_job.TrainConfig(jit_compile="always"), "float32")["jit_compile"] == "always"
    for recorded in ("gpu", True, "always"):
        assert job.upgrade_settings({**fast["gpu"], "jit_compile": recorded}) == fast["gpu"]
    full = job.settings(cyclegan_job.TrainConfig(), "float32")
    assert job.upgrade_settings({**full, "jit_compile": True})["jit_compile"] == "gpu"
    assert job.upgrade_settings({**full, "jit_compile": "always"})["jit_compile"] == "always"


def test_train_cyclegan_fast_writes_every_file_and_refuses_a_longer_schedule(tmp_path, capsys, stand_in_evaluator):
    from course.cli import main

    write_mnist_folder(tmp_path / "data" / "mnist", n_train=160, n_test=24)
    write_cifar_folder(tmp_path / "data" / "cifar-10-batches-py", n=4)
    out = tmp_path / "run"
    args = ["train", "cyclegan", "--fast", "--data-dir", str(tmp_path / "data"), "--out", str(out)]
    assert main(args + ["--epochs", "1"]) == 0
    for name in ("metrics.json", "samples.png", "history.csv", "G_A_to_B.keras", "F_B_to_A.keras",
                 "progress.gif", "checkpoints/state.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "mnist_m" and metrics["test_examples"] == 24
    lp = metrics["label_preservation_accuracy"]
    assert set(lp) == {"b_to_a", "a_to_b", "mean"} and lp["mean"] == pytest.approx((lp["a_to_b"] + lp["b_to_a"]) / 2,
                                                                                abs=1e-4)
    for key in ("baseline_untranslated_accuracy", "cycle_l1", "val_b_to_a_accuracy_by_epoch",
                "validation_label_preservation_accuracy"):
        assert key in metrics
    assert len(metrics["val_b_to_a_accuracy_by_epoch"]) == len(metrics["val_a_to_b_accuracy_by_epoch"]) == 1
    # validation digits come out of the training digits, before the unpaired halves are drawn
    assert metrics["validation_examples"] == 20 and metrics["examples"] == (160 - 20) // 2
    frame = (out / "frames" / "epoch-0001.png").read_bytes()

    # the learning rate decays over the run's epochs, so more epochs would be another run
    capsys.readouterr()
    assert main(args + ["--epochs", "2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "settings.epochs: 1 in the run, 2 now" in err and "--epochs 1" in err and "Traceback" not in err
    # the same settings: accepted, nothing to train; a fast run is never compiled, so any --jit-compile is the same run
    assert main(args + ["--epochs", "1", "--jit-compile", "never", "--resume"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and len(metrics["val_b_to_a_accuracy_by_epoch"]) == 1
    assert (out / "frames" / "epoch-0001.png").read_bytes() == frame
    from course.jobs.cyclegan import load_generators

    g, f = load_generators(out)
    assert cg.translate(f, data.load("mnist_m", data_dir=tmp_path / "data").test[0][:3]).shape == (3, 28, 28, 3)


def test_cyclegan_refuses_other_datasets(tmp_path, capsys):
    from course.cli import main

    assert main(["train", "cyclegan", "--dataset", "cifar10", "--fast", "--out", str(tmp_path / "x")]) == 2
    assert "--dataset mnist_m" in capsys.readouterr().err


def test_two_mappings_and_two_critics_not_one_generator():
    """Guards Y1: G: A -> B and F: B -> A are two networks, each judged by its own domain's discriminator,
    and the objective weighs both round trips."""
    model = _small(cycle_weight=(10.0, 1.0), identity_weight=5.0)
    nets = [model.g, model.f, model.d_a, model.d_b]
    assert len({id(n) for n in nets}) == 4
    assert [n.name for n in nets] == ["G_A_to_B", "F_B_to_A", "D_A", "D_B"]
    assert not {id(v) for v in model.g.trainable_variables} & {id(v) for v in model.f.trainable_variables}
    a, b = next(iter(_pairs()))
    terms, fake_a, fake_b = model.generator_losses(a, b)
    total = (terms["G_adv"] + terms["F_adv"] + 10.0 * terms["cycle_a"] + 1.0 * terms["cycle_b"]
             + 5.0 * terms["identity"])
    assert float(terms["total"]) == pytest.approx(float(total), rel=1e-5)
    assert float(terms["cycle_a"]) > 0 and float(terms["cycle_b"]) > 0 and float(terms["identity"]) > 0


def test_validation_digits_are_paired_and_never_trained_on():
    """Lesson 04 chooses its recipe on held-out training digits, paired, apart from both training halves."""
    digits = np.arange(60, dtype=np.uint8).reshape(60, 1, 1, 1)
    coloured = np.repeat(digits, 3, axis=-1) + 100
    train_a, train_b, val_a, val_b, val_labels = data.translation_splits(digits, coloured, np.arange(60), 10, seed=3)
    assert len(val_a) == len(val_b) == 10 and len(train_a) == len(train_b) == 25
    np.testing.assert_array_equal(val_a[..., 0] + 100, val_b[..., 0])  # the same digit in both domains
    np.testing.assert_array_equal(val_a[:, 0, 0, 0], val_labels)
    seen = set(train_a[:, 0, 0, 0].tolist()) | set((train_b[:, 0, 0, 0] - 100).tolist())
    assert not seen & set(val_labels.tolist()) and not set(train_a[:, 0, 0, 0]) & set(train_b[:, 0, 0, 0] - 100)
    with pytest.raises(ValueError, match="validation"):
        data.translation_splits(digits, coloured, np.arange(60), 40)
