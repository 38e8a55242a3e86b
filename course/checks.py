"""Self-checks for the exercises. Each takes the learner's function, tries it on small
cases with known answers, prints what passed, and raises ``AssertionError`` with a
hint when something is off. They need no notebook path and no dataset, so they
work the same in Jupyter, Colab and the tests.
"""
from __future__ import annotations

import keras
import numpy as np

from . import losses
from .models import dcgan


def _ok(message: str) -> None:
    print(f"Correct: {message}")


def _fail(message: str, hint: str) -> None:
    raise AssertionError(f"{message}\nHint: {hint}")


# --------------------------------------------------------------------------- lesson 01


def check_scale_images(scale_images) -> None:
    """Exercise 01.1: uint8 ``(N, 28, 28)`` -> float32 ``(N, 28, 28, 1)`` in [0, 1]."""
    images = np.array([[[0, 255], [128, 64]], [[255, 255], [0, 1]]], dtype=np.uint8)
    images = np.pad(images, ((0, 0), (0, 26), (0, 26)))  # 2 images of 28x28
    out = np.asarray(scale_images(images))
    if out.shape != (2, 28, 28, 1):
        _fail(f"output shape is {out.shape}, expected (2, 28, 28, 1)",
              "add a channel axis at the end: x[..., None] or np.expand_dims(x, -1).")
    if out.dtype != np.float32:
        _fail(f"output dtype is {out.dtype}, expected float32",
              "convert before dividing: x.astype('float32').")
    expected = images[..., None].astype(np.float32) / 255.0
    if not np.allclose(out, expected, atol=1e-6):
        _fail(f"values span [{out.min():.3g}, {out.max():.3g}], expected [0, 1] with 255 -> 1.0",
              "divide by 255 (not 256, not by the batch maximum).")
    _ok("shape (N, 28, 28, 1), float32, pixel / 255.")


def check_classifier(build_fn) -> None:
    """Exercise 01.2: ``build_fn(input_shape, num_classes)`` returns a conv net that outputs logits."""
    model = build_fn((28, 28, 1), 10)
    if not isinstance(model, keras.Model):
        _fail(f"got a {type(model).__name__}, expected a keras.Model", "return keras.Model(inputs, outputs).")
    if tuple(model.output_shape) != (None, 10):
        _fail(f"output shape is {model.output_shape}, expected (None, 10)",
              "end with layers.Dense(num_classes) after flattening or global pooling.")
    if not any(isinstance(layer, keras.layers.Conv2D) for layer in model._flatten_layers()):
        _fail("the model has no Conv2D layer", "a CNN starts with convolutions: layers.Conv2D(32, 3, ...).")
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    out = np.asarray(model(x, training=False))
    if np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
        _fail("the outputs are probabilities (they sum to 1)",
              "leave the last Dense layer without softmax and use from_logits=True in the loss.")
    _ok(f"a conv net with {model.count_params():,} parameters that outputs 10 logits.")


def check_loss(make_loss) -> None:
    """Exercise 01.3: ``make_loss()`` returns the loss for integer labels and logits (erratum C2)."""
    labels = np.array([2, 0], dtype=np.int64)
    logits = np.array([[1.0, 2.0, 3.0], [2.0, -1.0, 0.5]], dtype=np.float32)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = float(-log_softmax[np.arange(2), labels].mean())
    loss = make_loss()
    try:
        value = float(np.asarray(loss(labels, logits)))
    except Exception as err:  # e.g. categorical cross-entropy refusing integer labels
        _fail(f"the loss fails on integer labels and logits ({type(err).__name__})",
              "integer labels need the *sparse* categorical cross-entropy.")
    if abs(value - expected) > 1e-4:
        _fail(f"loss on a hand-made case is {value:.4f}, expected {expected:.4f}",
              "use SparseCategoricalCrossentropy(from_logits=True): the model outputs logits, not probabilities.")
    _ok(f"sparse categorical cross-entropy on logits ({value:.4f} on the hand-made case).")


def check_accuracy_from_logits(accuracy_fn) -> None:
    """Exercise 01.4: fraction of rows whose largest logit is the label."""
    logits = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0], [-5.0, -4.0, -6.0], [0.0, 0.0, 1.0]], np.float32)
    labels = np.array([1, 0, 0, 2])
    value = float(accuracy_fn(logits, labels))
    if abs(value - 0.75) > 1e-6:
        _fail(f"got {value}, expected 0.75 (3 of 4 rows right)",
              "compare np.argmax(logits, axis=1) with the labels and take the mean.")
    _ok("accuracy from logits without any softmax (argmax is unchanged by it).")


# --------------------------------------------------------------------------- lesson 02


def _logit_cases():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 1)).astype("float32") * 3, rng.normal(size=(6, 1)).astype("float32") * 3


def check_discriminator_loss(d_loss_fn) -> None:
    """Exercise 02.1: D's loss from logits: real -> 1, fake -> 0 (errata G6, G7)."""
    real, fake = _logit_cases()
    expected = float(losses.discriminator_loss(real, fake))
    value = float(np.asarray(d_loss_fn(real, fake)))
    if abs(value - float(losses.discriminator_loss(fake, real))) < 1e-4 and abs(value - expected) > 1e-4:
        _fail("real and fake are swapped", "real images should be labelled 1 and generated ones 0.")
    if abs(value + expected) < 1e-4:
        _fail("the sign is flipped: this is the quantity D maximises",
              "D *minimises* the binary cross-entropy; return it, not its negative.")
    if abs(value - expected) > 1e-4:
        _fail(f"got {value:.4f}, expected {expected:.4f}",
              "mean of softplus(-real_logits) plus mean of softplus(fake_logits), or two "
              "BinaryCrossentropy(from_logits=True) terms.")
    _ok("D's loss labels real images 1 and generated ones 0, from logits.")


def check_generator_loss(g_loss_fn) -> None:
    """Exercise 02.2: the non-saturating generator loss -E log sigmoid(D(G(z)))."""
    _, fake = _logit_cases()
    expected = float(losses.generator_loss(fake, "non_saturating"))
    try:
        value = float(np.asarray(g_loss_fn(fake)))
    except TypeError:
        _fail("the function takes real logits too", "G never sees real data: its loss needs only D's logits on fakes.")
    if abs(value - float(losses.generator_loss(fake, "minimax"))) < 1e-4:
        _fail("that is the minimax (saturating) loss", "the non-saturating loss is mean(softplus(-fake_logits)).")
    if abs(value - expected) > 1e-4:
        _fail(f"got {value:.4f}, expected {expected:.4f}",
              "label the fakes 1 for G: BinaryCrossentropy(from_logits=True)(ones, fake_logits).")
    _ok("non-saturating generator loss from logits.")


def check_generator_update(update_fn) -> None:
    """Exercise 02.3: ``update_fn(gan, batch_size)`` updates G through D and leaves D alone (G3, G5)."""
    gan = dcgan.make_dcgan((28, 28, 1), seed=0, learning_rate=1e-3)
    d_before = [w.copy() for w in gan.discriminator.get_weights()]
    g_before = [v.numpy().copy() for v in gan.generator.trainable_variables]
    update_fn(gan, 8)
    d_moved = any(not np.array_equal(a, b) for a, b in zip(d_before, gan.discriminator.get_weights()))
    g_moved = [not np.array_equal(a, v.numpy()) for a, v in zip(g_before, gan.generator.trainable_variables)]
    if d_moved:
        _fail("the discriminator's weights changed", "apply gradients only to gan.generator.trainable_variables.")
    if not all(g_moved):
        _fail(f"{g_moved.count(False)} of the generator's variables did not change",
              "take the gradient of the generator loss with respect to every generator variable and apply it "
              "with gan.g_optimizer.")
    _ok("the generator moved and the discriminator was held fixed.")


# --------------------------------------------------------------------------- lesson 03


def check_reparameterize(sample_fn) -> None:
    """Exercise 03.1: ``sample_fn(mean, log_var, eps)`` returns ``mean + exp(log_var / 2) * eps`` (V1)."""
    mean = np.array([[0.0, 1.0], [-2.0, 0.5]], "float32")
    log_var = np.array([[0.0, np.log(4.0)], [np.log(0.25), -1.0]], "float32")
    eps = np.array([[1.0, -1.0], [0.5, 2.0]], "float32")
    value = np.asarray(sample_fn(mean, log_var, eps))
    expected = mean + np.exp(0.5 * log_var) * eps
    if np.allclose(value, mean):
        _fail("the sample equals the mean", "without noise the model is a plain autoencoder: add exp(log_var / 2) * eps.")
    if np.allclose(value, mean + np.exp(log_var) * eps):
        _fail("you scaled eps by the variance", "the standard deviation is exp(log_var / 2).")
    if not np.allclose(value, expected, atol=1e-5):
        _fail("the samples differ from mean + exp(log_var / 2) * eps", "check the formula term by term.")
    _ok("z = mean + exp(log_var / 2) * eps, so gradients reach mean and log_var.")


def check_kl(kl_fn) -> None:
    """Exercise 03.2: analytic ``KL(N(mean, exp(log_var)) || N(0, I))`` per image (V3)."""
    mean = np.array([[0.0, 0.0], [1.0, -0.5]], "float32")
    log_var = np.array([[0.0, 0.0], [0.3, -1.0]], "float32")
    value = np.asarray(kl_fn(mean, log_var)).reshape(-1)
    expected = np.asarray(losses.gaussian_kl(mean, log_var))
    if value.shape != (2,):
        _fail(f"got shape {value.shape}, expected one value per image (2,)", "sum over the latent axis only: axis=1.")
    if abs(value[0]) > 1e-6:
        _fail(f"KL is {value[0]:.4f} when q equals the prior", "it must be 0 for mean 0, log_var 0.")
    if not np.allclose(value, expected, atol=1e-5):
        _fail(f"got {value}, expected {expected}", "0.5 * sum(exp(log_var) + mean**2 - 1 - log_var, axis=1).")
    _ok("analytic KL per image, zero when q(z|x) is the prior.")


def check_vae_loss(loss_fn) -> None:
    """Exercise 03.3: ``loss_fn(x, logits, mean, log_var, beta)`` = batch mean of recon + beta * KL (V2, V5)."""
    rng = np.random.default_rng(0)
    x = (rng.random((4, 28, 28, 1)) < 0.3).astype("float32")
    logits = rng.normal(size=(4, 28, 28, 1)).astype("float32")
    mean, log_var = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 3)).astype("float32") * 0.3
    expected = float(losses.negative_elbo(x, logits, mean, log_var, beta=0.5)[0])
    value = float(np.asarray(loss_fn(x, logits, mean, log_var, 0.5)))
    recon, kl = float(losses.negative_elbo(x, logits, mean, log_var)[1]), float(losses.negative_elbo(x, logits, mean, log_var)[2])
    if abs(value - (-recon - 0.5 * kl)) < 1e-2:
        _fail("the sign is flipped: this is the ELBO, which we maximise", "the loss is -E[log p(x|z)] + beta * KL.")
    if abs(value - (recon / 784 + 0.5 * kl)) < 1e-2:
        _fail("the reconstruction term is averaged over pixels", "sum it over pixels (per image), then average over the batch.")
    if abs(value - expected) > 1e-2:
        _fail(f"got {value:.3f}, expected {expected:.3f}", "recon = -sum(x * logits - softplus(logits)) per image; "
              "add beta * KL; take the mean over the batch.")
    _ok(f"negative ELBO in nats per image ({value:.1f} on the test case).")


# --------------------------------------------------------------------------- lesson 04


def check_cycle_loss(cycle_fn) -> None:
    """Exercise 04.1: ``cycle_fn(real_a, cycled_a, real_b, cycled_b)`` = ``E|F(G(a)) - a| + E|G(F(b)) - b|``."""
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    b = rng.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    if abs(float(cycle_fn(a, a, b, b))) > 1e-6:
        _fail("perfect round trips (F(G(a)) = a, G(F(b)) = b) give a non-zero loss",
              "compare each image with its own round trip: |cycled_a - real_a| and |cycled_b - real_b|.")
    got = float(cycle_fn(a, a + 0.5, b, b - 0.25))
    if abs(got - 0.375) < 1e-5:
        _fail(f"got {got:.4f}: the two directions are averaged, not summed",
              "the cycle loss is the sum of two mean absolute errors, one per domain.")
    if abs(got - 0.3125) < 1e-5:
        _fail(f"got {got:.4f}: that is a squared error", "L1, not L2: ops.mean(ops.abs(...)).")
    if abs(got - 0.75) > 1e-5:
        _fail(f"errors of 0.5 on A and 0.25 on B gave {got:.4f}, expected 0.75",
              "ops.mean(ops.abs(cycled_a - real_a)) + ops.mean(ops.abs(cycled_b - real_b)).")
    _ok("zero for perfect round trips; mean |error| per domain, summed over both domains.")


def check_lsgan_losses(d_loss_fn, g_loss_fn) -> None:
    """Exercise 04.2: least-squares losses on D's raw scores (no sigmoid)."""
    real = np.array([[1.0, 0.0]], "float32")
    fake = np.array([[0.0, 2.0]], "float32")
    d = float(d_loss_fn(real, fake))
    if abs(d - 1.25) > 1e-5:
        hint = ("real scores should be pulled to 1 and fake scores to 0: "
                "0.5 * (mean((real - 1)^2) + mean(fake^2)).")
        if abs(d - 2.5) < 1e-5:
            hint = "CycleGAN halves D's loss: 0.5 * (...), so D learns at half G's pace."
        _fail(f"D's loss on real scores [1, 0] and fake scores [0, 2] is {d:.4f}, expected 1.25", hint)
    g = float(g_loss_fn(fake))
    if abs(g - 1.0) > 1e-5:
        hint = "G wants D to score its images as real: mean((fake - 1)^2)."
        if abs(g - 2.0) < 1e-5:
            hint = "G's target is 1 (real), not 0: mean((fake - 1)^2)."
        _fail(f"G's loss on fake scores [0, 2] is {g:.4f}, expected 1.0", hint)
    if abs(float(g_loss_fn(np.ones((2, 7, 7, 1), "float32")))) > 1e-6:
        _fail("G's loss is not zero when D scores every patch as real", "mean((fake - 1)^2) is 0 at fake = 1.")
    _ok("D: 0.5 * (E(D(real) - 1)^2 + E D(fake)^2); G: E(D(fake) - 1)^2.")


def check_instance_norm(norm_fn) -> None:
    """Exercise 04.3: ``norm_fn(x)`` normalises each image's each channel over height and width."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3, 5, 5, 2)) * rng.uniform(1, 5, (3, 1, 1, 2))
         + rng.uniform(-3, 3, (3, 1, 1, 2))).astype("float32")
    y = np.asarray(norm_fn(x))
    if y.shape != x.shape:
        _fail(f"output shape {y.shape}, expected {x.shape}", "normalise, do not reduce: keep every axis.")
    if not np.allclose(y.mean(axis=(1, 2)), 0, atol=1e-3):
        if np.allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-3):
            _fail("the mean is zero over the whole batch, not per image", "that is BatchNorm: use axis=(1, 2).")
        _fail("each image's channels do not have mean 0", "subtract the mean over axis=(1, 2), keepdims=True.")
    if not np.allclose(y.std(axis=(1, 2)), 1, atol=2e-2):
        _fail("each image's channels do not have standard deviation 1",
              "divide by sqrt(variance over axis=(1, 2) + epsilon).")
    if not np.allclose(np.asarray(norm_fn(x[:1])), y[:1], atol=1e-4):
        _fail("an image's result depends on the other images in the batch", "reduce over axis=(1, 2) only.")
    _ok("mean 0 and standard deviation 1 per image and channel, independent of the batch.")
