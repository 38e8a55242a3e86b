"""Every self-check accepts the right answer and rejects the likely wrong ones, each with its own hint.

Each test lists wrong answers a learner (or the source material) writes and asserts that the
check says "not right yet" with a hint that names the mistake.
"""
import keras
import numpy as np
import pytest
from keras import layers, ops

from course import checks, losses


def run(check, *answers):
    """``(status, message + hint, what the check handed back)``."""
    checks.RESULTS.clear()
    returned = check(*answers)
    (result,) = checks.RESULTS.values()
    return result.status, f"{result.message} {result.hint}", returned


def assert_rejects(check, wrong_answers: dict, right, *extra):
    status, text, returned = run(check, right, *extra)
    assert status == "correct", text
    assert returned is right or returned == (right, *extra)
    for expected, answer in wrong_answers.items():
        status, text, returned = run(check, *(answer if isinstance(answer, tuple) else (answer,)))
        assert status == "wrong", f"{expected!r}: the check accepted it"
        assert expected in text, f"{expected!r} not in {text!r}"


def not_done(*args):
    raise NotImplementedError()


@pytest.mark.parametrize("check, arity", [
    (checks.check_scale_images, 1), (checks.check_classifier, 1), (checks.check_loss, 1),
    (checks.check_accuracy_from_logits, 1), (checks.check_discriminator_loss, 1), (checks.check_generator_loss, 1),
    (checks.check_generator_update, 1), (checks.check_reparameterize, 1), (checks.check_kl, 1),
    (checks.check_vae_loss, 1), (checks.check_cycle_loss, 1), (checks.check_lsgan_losses, 2),
    (checks.check_instance_norm, 1)])
def test_an_unsolved_exercise_is_not_done_and_the_lesson_gets_the_course_version(check, arity, capsys):
    status, _, returned = run(check, *([not_done] * arity))
    assert status == "not done" and "not done yet" in capsys.readouterr().out
    # the course's version passes its own check
    fallback = returned if isinstance(returned, tuple) else (returned,)
    assert fallback[0] is not not_done
    assert run(check, *fallback)[0] == "correct"


def test_scale_images():
    assert_rejects(checks.check_scale_images, {
        "channel axis": lambda x: x.astype("float32") / 255.0,
        "channels last": lambda x: (x.astype("float32") / 255.0)[:, None],
        "256": lambda x: (x.astype("float32") / 256.0)[..., None],
        "float32": lambda x: (x / 255.0)[..., None],
        "brightest pixel": lambda x: (x.astype("float32") / x.max())[..., None],
    }, lambda x: (x.astype("float32") / 255.0)[..., None])


def _cnn(input_shape, num_classes, softmax=False, fixed_ten=False, flatten=True):
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(4, 3)(inputs)
    if flatten:
        x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10 if fixed_ten else num_classes,
                                            activation="softmax" if softmax else None)(x))


def test_classifier():
    """Guards C1: the classifier outputs class scores (logits), not an image and not probabilities."""
    assert_rejects(checks.check_classifier, {
        "probabilities": lambda s, k: _cnn(s, k, softmax=True),
        "no Conv2D": lambda s, k: keras.Sequential([keras.Input(s), layers.Flatten(), layers.Dense(k)]),
        "not a fixed 10": lambda s, k: _cnn(s, k, fixed_ten=True),
        "4-D feature map": lambda s, k: _cnn(s, k, flatten=False),
        "input_shape": lambda s, k: _cnn((28, 28, 1), k),
        "keras.Model": lambda s, k: "a model",
    }, _cnn)


def test_loss():
    """Guards C2: categorical cross-entropy with integer labels, or probabilities assumed."""
    assert_rejects(checks.check_loss, {
        "sparse": lambda: keras.losses.CategoricalCrossentropy(from_logits=True),
        "from_logits": lambda: keras.losses.SparseCategoricalCrossentropy(),
        "loss object": lambda: "sparse_categorical_crossentropy",
    }, lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def test_accuracy_from_logits():
    assert_rejects(checks.check_accuracy_from_logits, {
        "argmax": lambda z, y: np.mean(np.argmin(z, 1) == y),
        "count": lambda z, y: np.sum(np.argmax(z, 1) == y),
        "shapes": lambda z, y: np.mean(np.argmax(z, 0) == y),  # crashes: 3 columns vs 4 labels
    }, lambda z, y: np.mean(np.argmax(z, 1) == y))


def test_discriminator_loss():
    """Guards G6 and G7 in the exercise: fakes labelled fake, and the loss D minimises."""
    sp = ops.softplus
    assert_rejects(checks.check_discriminator_loss, {
        "swapped": lambda r, f: ops.mean(sp(r)) + ops.mean(sp(-f)),
        "sign is flipped": lambda r, f: -(ops.mean(sp(-r)) + ops.mean(sp(f))),
        "fakes are labelled real": lambda r, f: ops.mean(sp(-r)) + ops.mean(sp(-f)),
        "probabilities": lambda r, f: (keras.losses.BinaryCrossentropy()(ops.ones_like(r), r)
                                       + keras.losses.BinaryCrossentropy()(ops.zeros_like(f), f)),
        "half": lambda r, f: 0.5 * (ops.mean(sp(-r)) + ops.mean(sp(f))),
        "one number": lambda r, f: sp(-r) + sp(f),
    }, lambda r, f: ops.mean(sp(-r)) + ops.mean(sp(f)))


def test_generator_loss():
    """Guards G7: G's loss has no real-data term; non-saturating, not minimax."""
    sp = ops.softplus
    assert_rejects(checks.check_generator_loss, {
        "minimax": lambda f: -ops.mean(sp(f)),
        "look fake": lambda f: ops.mean(sp(f)),
        "sign is flipped": lambda f: -ops.mean(sp(-f)),
        "never sees real data": lambda r, f: ops.mean(sp(-f)),
    }, lambda f: ops.mean(sp(-f)))


def _update(kind="non_saturating", sign=1.0, training=True, optimizer="g", variables="g", noise=True):
    """A generator update as a learner might write it (TensorFlow, as the lesson teaches)."""
    import tensorflow as tf

    def update(gan, batch_size):
        z = gan.noise(batch_size) if noise else keras.random.normal((batch_size, gan.latent_dim))
        with tf.GradientTape() as tape:
            logits = gan.discriminator(gan.generator(z, training=training), training=training)
            loss = sign * losses.generator_loss(logits, kind)
        train_vars = gan.generator.trainable_variables if variables == "g" else gan.trainable_variables
        opt = gan.g_optimizer if optimizer == "g" else gan.d_optimizer
        opt.apply_gradients(zip(tape.gradient(loss, train_vars), train_vars))
    return update


def test_generator_update():
    """Guards G3, G5 and G7: G is updated through D, with D fixed, on the non-saturating loss, in training mode."""
    assert_rejects(checks.check_generator_update, {
        "flipped": _update(sign=-1.0),
        "minimax": _update(kind="minimax"),
        "inference mode": _update(training=False),
        "does not own": _update(variables="all"),
        "gan.g_optimizer updates": _update(optimizer="d"),
        "gan.noise": _update(noise=False),
        "did not change": lambda gan, n: gan.noise(n),
    }, _update())


def test_reparameterize():
    """Guards V1: the decoder gets a sample, not the mean."""
    assert_rejects(checks.check_reparameterize, {
        "equals the mean": lambda m, lv, e: m,
        "variance": lambda m, lv, e: m + ops.exp(lv) * e,
        "log-variance": lambda m, lv, e: m + lv * e,
        "shape": lambda m, lv, e: ops.mean(m + ops.exp(0.5 * lv) * e, axis=1),
    }, lambda m, lv, e: m + ops.exp(0.5 * lv) * e)


def test_kl():
    """Guards V3: the KL per data point under q(z|x), analytic."""
    def kl(m, lv):
        return 0.5 * ops.sum(ops.exp(lv) + ops.square(m) - 1.0 - lv, axis=1)
    assert_rejects(checks.check_kl, {
        "one value per image": lambda m, lv: ops.sum(kl(m, lv)),
        "negative": lambda m, lv: -kl(m, lv),
        "twice": lambda m, lv: 2 * kl(m, lv),
        "averaged over the latent": lambda m, lv: kl(m, lv) / 3,
        "equals the prior": lambda m, lv: 0.5 * ops.sum(ops.exp(lv) + ops.square(m) - 1.0 - ops.exp(lv), axis=1),
    }, kl)


def test_vae_loss():
    """Guards V2 and V5: the loss is -E log p(x|z) + beta KL, summed over pixels, averaged over the batch."""
    def right(x, logits, m, lv, beta):
        return losses.negative_elbo(x, logits, m, lv, beta)[0]

    def pieces(x, logits, m, lv):
        recon = -losses.bernoulli_log_likelihood(x, logits)
        return recon, losses.gaussian_kl(m, lv)

    assert_rejects(checks.check_vae_loss, {
        "sign is flipped": lambda x, z, m, lv, b: -ops.mean(pieces(x, z, m, lv)[0] + b * pieces(x, z, m, lv)[1]),
        "averaged over pixels": lambda x, z, m, lv, b: ops.mean(pieces(x, z, m, lv)[0] / 784 + b * pieces(x, z, m, lv)[1]),
        "beta is ignored": lambda x, z, m, lv, b: ops.mean(pieces(x, z, m, lv)[0] + pieces(x, z, m, lv)[1]),
        "summed over the batch": lambda x, z, m, lv, b: ops.sum(pieces(x, z, m, lv)[0] + b * pieces(x, z, m, lv)[1]),
    }, right)


def test_cycle_loss():
    """Guards Y2: both round trips, L1, summed."""
    l1 = lambda x, y: ops.mean(ops.abs(x - y))  # noqa: E731
    assert_rejects(checks.check_cycle_loss, {
        "averaged": lambda a, ca, b, cb: (l1(ca, a) + l1(cb, b)) / 2,
        "squared": lambda a, ca, b, cb: ops.mean(ops.square(ca - a)) + ops.mean(ops.square(cb - b)),
        "only the A -> B -> A": lambda a, ca, b, cb: l1(ca, a),
        "only the B -> A -> B": lambda a, ca, b, cb: l1(cb, b),
        "non-zero": lambda a, ca, b, cb: l1(ca, b) + l1(cb, a),
    }, lambda a, ca, b, cb: l1(ca, a) + l1(cb, b))


def test_lsgan_losses():
    d = lambda r, f: 0.5 * (ops.mean(ops.square(r - 1.0)) + ops.mean(ops.square(f)))  # noqa: E731
    g = lambda f: ops.mean(ops.square(f - 1.0))  # noqa: E731
    assert_rejects(checks.check_lsgan_losses, {
        "factor 0.5": (lambda r, f: 2 * d(r, f), g),
        "no sigmoid": (lambda r, f: d(ops.sigmoid(r), ops.sigmoid(f)), g),
        "target is 1": (d, lambda f: ops.mean(ops.square(f))),
    }, d, g)


def test_the_lsgan_hint_no_longer_claims_a_factor_changes_adams_pace():
    """A constant factor on a loss leaves Adam's updates unchanged; the hint says so instead of the opposite."""
    _, text, _ = run(checks.check_lsgan_losses, lambda r, f: (ops.mean(ops.square(r - 1.0)) + ops.mean(ops.square(f))),
                     lambda f: ops.mean(ops.square(f - 1.0)))
    assert "half G's pace" not in text and "changes the logged value, not the updates" in text
    # and it is true: Adam's step is the same for a loss and for twice the loss
    steps = []
    for factor in (1.0, 2.0):
        w = keras.Variable(np.array([1.0, -2.0], "float32"))
        opt = keras.optimizers.Adam(0.1)
        for _ in range(3):
            from course import backend

            _, (grad,) = backend.value_and_grad(lambda: factor * ops.sum(ops.square(w.value - 3.0)), [w])
            opt.apply([grad], [w])
        steps.append(ops.convert_to_numpy(w.value))
    np.testing.assert_allclose(steps[0], steps[1], rtol=1e-5)


def test_instance_norm():
    def right(x):
        return (x - ops.mean(x, axis=(1, 2), keepdims=True)) / ops.sqrt(ops.var(x, axis=(1, 2), keepdims=True) + 1e-5)

    def over(axes, epsilon=1e-5, power=0.5):
        return lambda x: ((x - ops.mean(x, axis=axes, keepdims=True))
                          / (ops.var(x, axis=axes, keepdims=True) + epsilon) ** power)

    assert_rejects(checks.check_instance_norm, {
        "BatchNorm": over((0, 1, 2)),
        "LayerNorm": over((1, 2, 3)),
        "epsilon": over((1, 2), epsilon=0.0),
        "divided by the variance": over((1, 2), power=1.0),
        "keep every axis": lambda x: ops.mean(x, axis=(1, 2)),
    }, right)


def test_the_instance_norm_check_compares_with_the_layer():
    """The lesson says the check compares the learner's function with GroupNormalization(groups=-1): it does."""
    layer = layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False)
    assert run(checks.check_instance_norm, lambda x: layer(x))[0] == "correct"


def test_a_crash_is_reported_not_raised_and_the_scoreboard_lists_everything(capsys, monkeypatch, tmp_path):
    log = tmp_path / "checks.jsonl"
    monkeypatch.setenv("COURSE_CHECKS_LOG", str(log))
    checks.RESULTS.clear()
    checks.check_kl(lambda m, lv: 1 / 0)
    checks.check_cycle_loss(not_done)
    checks.check_reparameterize(lambda m, lv, e: m + ops.exp(0.5 * lv) * e)
    text = checks.scoreboard()
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert "03.2" in text and "not right yet" in text and "04.1" in text and "not done yet" in text
    assert "1 of 3 correct." in text
    assert [line.count('"status"') for line in log.read_text().splitlines()] == [1, 1, 1]


def test_strict_cases_are_only_for_the_grader(monkeypatch):
    only_first_case = lambda s, k: _cnn(s, k) if s != (16, 16, 2) else _cnn(s, 99)  # noqa: E731
    assert run(checks.check_classifier, only_first_case)[0] == "correct"
    monkeypatch.setenv("COURSE_CHECKS", "strict")
    assert run(checks.check_classifier, only_first_case)[0] == "wrong"
