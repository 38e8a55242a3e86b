"""Every self-check accepts the right answer and rejects the likely wrong ones, each with its own hint.

Each exercise's test lists wrong answers a learner (or the source material) writes and asserts that
the check says "not right yet", records it as wrong, hands back the course's version (not the
learner's function) and gives a hint that names the mistake; and that the right answer, written in
another correct form than the solution's, is accepted, in the lesson's cases and in the grader's
stricter ones (``COURSE_CHECKS=strict``).
"""
import keras
import numpy as np
import pytest
from keras import layers, ops

from course import checks, foundations, losses, metrics


def run(check, *answers):
    """``(status, message + hint, what the check handed back)``."""
    checks.RESULTS.clear()
    returned = check(*answers)
    (result,) = checks.RESULTS.values()
    return result.status, f"{result.message} {result.hint}", returned


def _same(returned, answers) -> bool:
    returned = returned if isinstance(returned, tuple) else (returned,)
    return len(returned) == len(answers) and all(r is a for r, a in zip(returned, answers))


def assert_rejects(check, wrong_answers: dict, *right, monkeypatch=None):
    """``right`` (the learner's answer: one function, or two for 04.2) is accepted and handed back, in the
    lesson's cases and, with ``monkeypatch``, in the strict ones; each wrong answer (keyed by a phrase its
    message or hint must contain) is refused: recorded as "wrong", the course's version handed back.
    Every wrong answer is tried; the failures are reported together."""
    modes = ["", "strict"] if monkeypatch is not None else [""]
    for mode in modes:
        if monkeypatch is not None:
            monkeypatch.setenv("COURSE_CHECKS", mode)
        status, text, returned = run(check, *right)
        assert status == "correct", f"the right answer was refused ({mode or 'lesson'} cases): {text}"
        assert _same(returned, right), "a correct answer is handed back to the lesson"
    if monkeypatch is not None:
        monkeypatch.setenv("COURSE_CHECKS", "")
    failures = []
    for expected, answer in wrong_answers.items():
        answers = answer if isinstance(answer, tuple) else (answer,)
        status, text, returned = run(check, *answers)
        if status != "wrong":
            failures.append(f"ACCEPTED {expected!r} (status {status!r})")
        elif _same(returned, answers):
            failures.append(f"{expected!r}: refused, but the learner's function was handed back")
        elif expected not in text:
            failures.append(f"{expected!r}: refused with another message: {text!r}")
    assert not failures, "\n".join(failures)


def not_done(*args, **kwargs):
    raise NotImplementedError()


ALL_CHECKS = [
    (checks.check_linear_regression, 1), (checks.check_logistic_gradient, 1), (checks.check_flatten_images, 1),
    (checks.check_hide_labels, 1),
    (checks.check_scale_images, 1), (checks.check_classifier, 1), (checks.check_loss, 1),
    (checks.check_accuracy_from_logits, 1),
    (checks.check_discriminator_loss, 1), (checks.check_generator_loss, 1), (checks.check_generator_update, 1),
    (checks.check_train_step, 1),
    (checks.check_reparameterize, 1), (checks.check_kl, 1), (checks.check_vae_loss, 1), (checks.check_compute_loss, 1),
    (checks.check_cycle_loss, 1), (checks.check_lsgan_losses, 2), (checks.check_instance_norm, 1),
    (checks.check_knn_radii, 1), (checks.check_roc_auc, 1)]


@pytest.mark.parametrize("check, arity", ALL_CHECKS, ids=[c.__name__ for c, _ in ALL_CHECKS])
def test_an_unsolved_exercise_is_not_done_and_the_lesson_gets_the_course_version(check, arity, capsys, monkeypatch):
    status, _, returned = run(check, *([not_done] * arity))
    assert status == "not done" and "not done yet" in capsys.readouterr().out
    # the course's version passes its own check, in the lesson's cases and in the grader's
    fallback = returned if isinstance(returned, tuple) else (returned,)
    assert fallback[0] is not not_done
    assert run(check, *fallback)[0] == "correct"
    monkeypatch.setenv("COURSE_CHECKS", "strict")
    assert run(check, *fallback)[0] == "correct"


# --------------------------------------------------------------------------- lesson 00


def _design_solve(x, y, penalty=0.0):
    design = np.concatenate([np.ones((len(x), 1)), x], axis=1)
    return np.linalg.solve(design.T @ design + penalty * np.eye(design.shape[1]), design.T @ y)


def test_linear_regression(monkeypatch):
    """Guards F1: intercept and slopes solved together, returned as (w, b)."""
    def centred(x, y):  # another correct form: slopes from centred data, then the intercept from the means
        x_mean, y_mean = x.mean(axis=0), y.mean()
        w = np.linalg.lstsq(x - x_mean, y - y_mean, rcond=None)[0]
        return w, y_mean - x_mean @ w

    def origin_then_residual(x, y):
        w = np.linalg.lstsq(x, y, rcond=None)[0]
        return w, float(np.mean(y - x @ w))

    assert_rejects(checks.check_linear_regression, {
        "through the origin": origin_then_residual,
        "wrong way round": lambda x, y: (_design_solve(x, y)[0], _design_solve(x, y)[1:]),
        "intercept is still in it": lambda x, y: (_design_solve(x, y), _design_solve(x, y)[0]),
        "without a penalty": lambda x, y: (_design_solve(x, y, 1.0)[1:], _design_solve(x, y, 1.0)[0]),
        "column of ones": lambda x, y: (np.linalg.lstsq(x, y, rcond=None)[0], 0.0),  # no intercept at all
    }, centred, monkeypatch=monkeypatch)


def test_linear_regression_for_two_features_only_is_refused_by_the_grader(monkeypatch):
    """Guards F1 in the grader's cases: other numbers of features than the lesson's two."""
    def two_features(x, y):
        theta = _design_solve(x[:, :2], y)
        return theta[1:], theta[0]

    assert run(checks.check_linear_regression, two_features)[0] == "correct"
    monkeypatch.setenv("COURSE_CHECKS", "strict")
    status, text, returned = run(checks.check_linear_regression, two_features)
    assert status == "wrong" and "numbers for 3 features" in text and returned is not two_features


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_logistic_gradient(monkeypatch):
    """Guards F2: the cross-entropy's gradient X^T (p - y) / n, no (n, 1) - (n,) broadcast, dw shaped like w."""
    from scipy.special import expit

    def mean_of_rows(w, b, x, y):  # another correct form: the mean of each example's x * (p - y)
        error = expit(x @ w + b) - y
        return np.mean(x * error, axis=0)[:, None], np.array([error.mean()])

    assert_rejects(checks.check_logistic_gradient, {
        "mean squared error": lambda w, b, x, y: (x.T @ ((_sigmoid(x @ w + b) - y) * _sigmoid(x @ w + b)
                                                         * (1 - _sigmoid(x @ w + b))) / len(x),
                                                  np.mean(_sigmoid(x @ w + b) - y, axis=0)),
        "broadcasts to (n, n)": lambda w, b, x, y: (x.T @ (_sigmoid(x @ w + b)[:, 0] - y) / len(x),
                                                    np.mean(_sigmoid(x @ w + b) - y, axis=0)),
        "would broadcast": lambda w, b, x, y: ((x.T @ (_sigmoid(x @ w + b) - y)).ravel() / len(x),
                                               np.mean(_sigmoid(x @ w + b) - y, axis=0)),
        "wrong way": lambda w, b, x, y: (x.T @ (y - _sigmoid(x @ w + b)) / len(x),
                                         np.mean(y - _sigmoid(x @ w + b), axis=0)),
        "summed over the examples": lambda w, b, x, y: (x.T @ (_sigmoid(x @ w + b) - y),
                                                        np.sum(_sigmoid(x @ w + b) - y, axis=0)),
    }, mean_of_rows, monkeypatch=monkeypatch)


def test_flatten_images(monkeypatch):
    """Guards F3: images flattened one row each, and a PCA's input of another shape refused, whatever the batch
    size, even with the same number of pixels."""
    def flatten(images, image_shape=None):  # another correct form
        images = np.asarray(images)
        if image_shape is not None and images.shape[1:] != tuple(image_shape):
            raise ValueError(f"these images are {images.shape[1:]}, PCA was fitted on {tuple(image_shape)}")
        return np.reshape(images, (images.shape[0], -1)).astype(np.float64) * (1 / 255)

    def no_check(images, image_shape=None):  # the F3 mistake: transform whatever comes
        return np.asarray(images).reshape(len(images), -1) / 255.0

    def refuses_whenever_given(images, image_shape=None):
        if image_shape is not None:
            raise ValueError("wrong shape")
        return no_check(images)

    def full_shape(images, image_shape=None):
        if image_shape is not None and np.shape(images) != tuple(image_shape):
            raise ValueError("wrong shape")
        return no_check(images)

    def pixel_count(images, image_shape=None):
        if image_shape is not None and np.prod(np.shape(images)[1:]) != np.prod(image_shape):
            raise ValueError("wrong size")
        return no_check(images)

    assert_rejects(checks.check_flatten_images, {
        "do not hard-code 784": lambda images, image_shape=None: np.asarray(images).reshape(-1, 784) / 255.0,
        "(28, 28) were refused for image_shape": refuses_whenever_given,
        "not the batch size": full_shape,
        "accepted for a PCA fitted on (28, 28)": no_check,
        "not the pixel count": pixel_count,
        "brightest pixel": lambda images, image_shape=None: flatten(images, image_shape) * 255 / np.max(images),
        "pixel order": lambda images, image_shape=None: np.asarray(images).transpose(0, 2, 1).reshape(
            len(images), -1) / 255.0,
    }, flatten, monkeypatch=monkeypatch)


def _spread_mask(labels, labelled, seed=0):
    """Which points keep their label: the classes in turn, a random point of each."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    keep = np.zeros(len(labels), bool)
    for i, c in enumerate(classes):
        quota = labelled // len(classes) + (i < labelled % len(classes))
        keep[rng.choice(np.flatnonzero(labels == c), quota, replace=False)] = True
    return keep


def test_hide_labels(monkeypatch):
    """Guards F4: unlabelled points marked -1 in an array that can hold -1 (MNIST's labels are uint8), the kept
    labels spread over the classes, the labels passed in left alone."""
    def quota_per_class(labels, labelled, seed=0):  # another correct form
        out = np.asarray(labels).astype(np.int64)
        out[~_spread_mask(labels, labelled, seed)] = -1
        return out

    def copy_then_mark(labels, labelled, seed=0):  # raises OverflowError on uint8 labels
        out = labels.copy()
        out[~_spread_mask(labels, labelled, seed)] = -1
        return out

    def first_k(labels, labelled, seed=0):
        out = np.full(len(labels), -1)
        out[:labelled] = labels[:labelled]
        return out

    def shuffled_in_place(labels, labelled, seed=0):
        np.random.default_rng(seed).shuffle(labels)
        return quota_per_class(labels, labelled, seed)

    def global_random_state(labels, labelled, seed=0):
        out = np.full(len(labels), -1)
        keep = _spread_mask(labels, labelled, seed=np.random.randint(2**31))
        out[keep] = labels[keep]
        return out

    assert_rejects(checks.check_hide_labels, {
        "-1 does not fit": copy_then_mark,
        "not spread over the classes": first_k,
        "0 is a class": lambda labels, labelled, seed=0: np.where(_spread_mask(labels, labelled, seed),
                                                                   labels.astype(int), 0),
        "cannot hold -1": lambda labels, labelled, seed=0: np.where(_spread_mask(labels, labelled, seed), labels, -1),
        "float64": lambda labels, labelled, seed=0: np.where(_spread_mask(labels, labelled, seed), labels, np.nan),
        "labels passed in were changed": shuffled_in_place,
        "same seed gave other labels": global_random_state,
    }, quota_per_class, monkeypatch=monkeypatch)


def test_the_lesson_00_answers_fit_mnist_uint8_labels():
    """Guards F4: the course's hide_labels, on uint8 labels as MNIST's, gives what label propagation takes."""
    labels = np.random.default_rng(0).integers(0, 10, 300).astype(np.uint8)
    partial = foundations.hide_labels(labels, 30, seed=0)
    assert partial.dtype.kind == "i" and np.sum(partial != -1) == 30
    assert np.bincount(partial[partial != -1], minlength=10).tolist() == [3] * 10


def _stand_in(fn):
    """``fn`` as the grader's stand-in calls it: the learner's exception comes back as a class of the same name."""
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001
            raise type(type(err).__name__, (Exception,), {})(str(err)) from None
    return call


def test_the_checks_name_the_mistake_behind_the_graders_stand_ins_too():
    """Guards F4 and G7 in the grader: an exception raised in the sandboxed kernel still gets its own hint."""
    def copy_then_mark(labels, labelled, seed=0):
        out = labels.copy()
        out[~_spread_mask(labels, labelled, seed)] = -1
        return out

    status, text, _ = run(checks.check_hide_labels, _stand_in(copy_then_mark))
    assert status == "wrong" and "-1 does not fit" in text
    status, text, _ = run(checks.check_generator_loss, _stand_in(lambda real, fake: ops.mean(ops.softplus(-fake))))
    assert status == "wrong" and "never sees real data" in text



# --------------------------------------------------------------------------- lesson 01


def test_scale_images(monkeypatch):
    """Guards C3 (no normalisation): float32 pixel / 255, channels last."""
    assert_rejects(checks.check_scale_images, {
        "channel axis": lambda x: x.astype("float32") / 255.0,
        "channels last": lambda x: (x.astype("float32") / 255.0)[:, None],
        "256": lambda x: (x.astype("float32") / 256.0)[..., None],
        "float32": lambda x: (x / 255.0)[..., None],
        "brightest pixel": lambda x: (x.astype("float32") / x.max())[..., None],
    }, lambda x: np.expand_dims(x, axis=-1).astype(np.float32) * np.float32(1 / 255), monkeypatch=monkeypatch)


def _cnn(input_shape, num_classes, softmax=False, fixed_ten=False, flatten=True, activation=None):
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(4, 3)(inputs)
    if flatten:
        x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10 if fixed_ten else num_classes,
                                            activation="softmax" if softmax else activation)(x))


def _sequential_cnn(input_shape, num_classes, last=()):
    """Another correct form: a Sequential model, max-pooled and flattened."""
    return keras.Sequential([keras.Input(input_shape), layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(),
                             layers.Flatten(), layers.Dense(num_classes), *last])


def test_classifier(monkeypatch):
    """Guards C1: the classifier outputs class scores (logits), not an image and not probabilities or squashed
    scores."""
    assert_rejects(checks.check_classifier, {
        "probabilities": lambda s, k: _cnn(s, k, softmax=True),
        "no Conv2D": lambda s, k: keras.Sequential([keras.Input(s), layers.Flatten(), layers.Dense(k)]),
        "not a fixed 10": lambda s, k: _cnn(s, k, fixed_ten=True),
        "4-D feature map": lambda s, k: _cnn(s, k, flatten=False),
        "input_shape": lambda s, k: _cnn((28, 28, 1), k),
        "keras.Model": lambda s, k: "a model",
        "applies relu": lambda s, k: _cnn(s, k, activation="relu"),
        "applies sigmoid": lambda s, k: _cnn(s, k, activation="sigmoid"),
        "squashed by tanh": lambda s, k: _cnn(s, k, activation="tanh"),
        "applies sigmoid:": lambda s, k: _sequential_cnn(s, k, last=[layers.Activation("sigmoid")]),
        "applies relu:": lambda s, k: keras.Model((m := _sequential_cnn(s, k)).inputs, ops.relu(m.outputs[0])),
        "outputs are probabilities": lambda s, k: _sequential_cnn(s, k, last=[layers.Softmax()]),
    }, _sequential_cnn, monkeypatch=monkeypatch)


def test_the_classifier_check_does_not_mistake_logits_for_squashed_ones():
    """A linear last layer whose logits happen to be all positive on the check's images is still right."""
    def positive_logits(input_shape, num_classes):
        inputs = keras.Input(input_shape)
        x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, activation="relu")(inputs))
        return keras.Model(inputs, layers.Dense(num_classes, kernel_initializer="ones", bias_initializer="ones")(x))

    assert run(checks.check_classifier, positive_logits)[0] == "correct"


def test_loss(monkeypatch):
    """Guards C2: categorical cross-entropy with integer labels, or probabilities assumed."""
    assert_rejects(checks.check_loss, {
        "sparse": lambda: keras.losses.CategoricalCrossentropy(from_logits=True),
        "from_logits": lambda: keras.losses.SparseCategoricalCrossentropy(),
        "treats the logits as probabilities": lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=False),
        "loss object": lambda: "sparse_categorical_crossentropy",
        "summed over the batch": lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum"),
        "fails on integer labels": lambda: keras.losses.BinaryCrossentropy(from_logits=True),
    }, lambda: keras.losses.get({"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": True}}),
        monkeypatch=monkeypatch)


def test_accuracy_from_logits(monkeypatch):
    assert_rejects(checks.check_accuracy_from_logits, {
        "argmax": lambda z, y: np.mean(np.argmin(z, 1) == y),
        "count": lambda z, y: np.sum(np.argmax(z, 1) == y),
        "shapes": lambda z, y: np.mean(np.argmax(z, 0) == y),  # crashes: 3 columns vs 4 labels
        "percentage": lambda z, y: 100 * np.mean(np.argmax(z, 1) == y),
        "one class per row": lambda z, y: np.mean(np.max(z, 1) == y),
    }, lambda z, y: np.count_nonzero(np.argmax(z, axis=-1) == np.asarray(y)) / len(y), monkeypatch=monkeypatch)


# --------------------------------------------------------------------------- lesson 02


def test_discriminator_loss(monkeypatch):
    """Guards G6 and G7 in the exercise: fakes labelled fake, the loss D minimises, from logits, a mean."""
    sp = ops.softplus
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    def joined(real, fake, real_label=1.0, fake_label=0.0, loss=bce):  # keras.io's form: one mean over both
        labels = ops.concatenate([ops.full(ops.shape(real), real_label), ops.full(ops.shape(fake), fake_label)])
        return loss(labels, ops.concatenate([real, fake]))

    def two_terms(real, fake):  # tensorflow/docs' form: the two halves' means, summed
        return bce(ops.ones_like(real), real) + bce(ops.zeros_like(fake), fake)

    for right in (joined, lambda r, f: 0.5 * (ops.mean(sp(-r)) + ops.mean(sp(f)))):
        assert_rejects(checks.check_discriminator_loss, {}, right, monkeypatch=monkeypatch)
    assert_rejects(checks.check_discriminator_loss, {
        "swapped": lambda r, f: ops.mean(sp(r)) + ops.mean(sp(-f)),
        "labelled 1 and generated ones 0": lambda r, f: joined(r, f, 0.0, 1.0),
        "sign is flipped": lambda r, f: -(ops.mean(sp(-r)) + ops.mean(sp(f))),
        "quantity D maximises": lambda r, f: -joined(r, f),
        "fakes are labelled real": lambda r, f: ops.mean(sp(-r)) + ops.mean(sp(-f)),
        "labels generated images 0": lambda r, f: joined(r, f, 1.0, 1.0),
        "probabilities": lambda r, f: (keras.losses.BinaryCrossentropy()(ops.ones_like(r), r)
                                       + keras.losses.BinaryCrossentropy()(ops.zeros_like(f), f)),
        "BinaryCrossentropy(from_logits=True)": lambda r, f: joined(r, f, loss=keras.losses.BinaryCrossentropy()),
        "summed over the batch": lambda r, f: ops.sum(sp(-r)) + ops.sum(sp(f)),
        "one number": lambda r, f: sp(-r) + sp(f),
    }, two_terms, monkeypatch=monkeypatch)


def test_generator_loss(monkeypatch):
    """Guards G7: G's loss has no real-data term; non-saturating, not minimax; from logits."""
    sp = ops.softplus
    assert_rejects(checks.check_generator_loss, {
        "minimax": lambda f: -ops.mean(sp(f)),
        "look fake": lambda f: ops.mean(sp(f)),
        "sign is flipped": lambda f: -ops.mean(sp(-f)),
        "never sees real data": lambda r, f: ops.mean(sp(-f)),
        "probabilities": lambda f: keras.losses.BinaryCrossentropy()(ops.ones_like(f), f),
        "summed over the batch": lambda f: ops.sum(sp(-f)),
    }, lambda f: keras.losses.BinaryCrossentropy(from_logits=True)(ops.ones_like(f), f), monkeypatch=monkeypatch)


def _update(kind="non_saturating", sign=1.0, training=True, optimizer="g", variables="g", noise=True, freeze=False):
    """A generator update as a learner might write it (TensorFlow, as the lesson teaches)."""
    import tensorflow as tf

    def update(gan, batch_size):
        if freeze:  # the source material's way (G5): freeze D, then take every trainable variable
            gan.discriminator.trainable = False
        z = gan.noise(batch_size) if noise else keras.random.normal((batch_size, gan.latent_dim))
        with tf.GradientTape() as tape:
            logits = gan.discriminator(gan.generator(z, training=training), training=training)
            loss = sign * losses.generator_loss(logits, kind)
        train_vars = gan.generator.trainable_variables if variables == "g" else gan.trainable_variables
        opt = gan.g_optimizer if optimizer == "g" else gan.d_optimizer
        opt.apply_gradients(zip(tape.gradient(loss, train_vars), train_vars))
    return update


def _update_with_one_persistent_tape(gan, batch_size):
    """Another correct form: a persistent tape, the loss written out, optimizer.apply."""
    import tensorflow as tf

    with tf.GradientTape(persistent=True) as tape:
        logits = gan.discriminator(gan.generator(gan.noise(batch_size), training=True), training=True)
        loss = keras.losses.BinaryCrossentropy(from_logits=True)(ops.ones_like(logits), logits)
    grads = tape.gradient(loss, gan.generator.trainable_weights)
    gan.g_optimizer.apply(grads, gan.generator.trainable_weights)


def test_generator_update(monkeypatch):
    """Guards G3, G5 and G7: G is updated through D, with D fixed, on the non-saturating loss, in training mode."""
    assert_rejects(checks.check_generator_update, {
        "flipped": _update(sign=-1.0),
        "minimax": _update(kind="minimax"),
        "inference mode": _update(training=False),
        "does not own": _update(variables="all"),
        "gan.g_optimizer updates": _update(optimizer="d"),
        "gan.noise": _update(noise=False),
        "did not change": lambda gan, n: gan.noise(n),
        "left frozen": _update(variables="all", freeze=True),
    }, _update_with_one_persistent_tape, monkeypatch=monkeypatch)


# --------------------------------------------------------------------------- lesson 03


def test_reparameterize(monkeypatch):
    """Guards V1: the decoder gets a sample, not the mean, drawn with the eps it is given."""
    assert_rejects(checks.check_reparameterize, {
        "equals the mean": lambda m, lv, e: m,
        "variance": lambda m, lv, e: m + ops.exp(lv) * e,
        "log-variance": lambda m, lv, e: m + lv * e,
        "shape": lambda m, lv, e: ops.mean(m + ops.exp(0.5 * lv) * e, axis=1),
        "eps is not used": lambda m, lv, e: m + ops.exp(0.5 * lv),
        "draws noise of its own": lambda m, lv, e: m + ops.exp(0.5 * lv) * keras.random.normal(ops.shape(m)),
    }, lambda m, lv, e: m + ops.sqrt(ops.exp(lv)) * e, monkeypatch=monkeypatch)


def test_kl(monkeypatch):
    """Guards V3: the KL per data point under q(z|x), analytic."""
    def kl(m, lv):
        return 0.5 * ops.sum(ops.exp(lv) + ops.square(m) - 1.0 - lv, axis=1)
    assert_rejects(checks.check_kl, {
        "one value per image": lambda m, lv: ops.sum(kl(m, lv)),
        "negative": lambda m, lv: -kl(m, lv),
        "twice": lambda m, lv: 2 * kl(m, lv),
        "averaged over the latent": lambda m, lv: ops.mean(0.5 * (ops.exp(lv) + ops.square(m) - 1.0 - lv), axis=1),
        "equals the prior": lambda m, lv: 0.5 * ops.sum(ops.exp(lv) + ops.square(m) - 1.0 - ops.exp(lv), axis=1),
    }, lambda m, lv: -0.5 * ops.sum(1.0 + lv - ops.square(m) - ops.exp(lv), axis=-1), monkeypatch=monkeypatch)


def test_vae_loss(monkeypatch):
    """Guards V2 and V5: the loss is -E log p(x|z) + beta KL, summed over pixels, averaged over the batch."""
    def right(x, logits, m, lv, beta):  # another correct form: Keras' element-wise cross-entropy, summed per image
        recon = ops.sum(ops.binary_crossentropy(x, logits, from_logits=True), axis=(1, 2, 3))
        return ops.mean(recon + beta * 0.5 * ops.sum(ops.exp(lv) + ops.square(m) - 1.0 - lv, axis=1))

    def pieces(x, logits, m, lv):
        recon = -losses.bernoulli_log_likelihood(x, logits)
        return recon, losses.gaussian_kl(m, lv)

    pixels = lambda x: int(np.prod(ops.shape(x)[1:]))  # noqa: E731
    assert_rejects(checks.check_vae_loss, {
        "sign is flipped": lambda x, z, m, lv, b: -ops.mean(pieces(x, z, m, lv)[0] + b * pieces(x, z, m, lv)[1]),
        "averaged over pixels": lambda x, z, m, lv, b: ops.mean(pieces(x, z, m, lv)[0] / pixels(x)
                                                                + b * pieces(x, z, m, lv)[1]),
        "beta is ignored": lambda x, z, m, lv, b: ops.mean(pieces(x, z, m, lv)[0] + pieces(x, z, m, lv)[1]),
        "summed over the batch": lambda x, z, m, lv, b: ops.sum(pieces(x, z, m, lv)[0] + b * pieces(x, z, m, lv)[1]),
        "KL term is missing": lambda x, z, m, lv, b: ops.mean(pieces(x, z, m, lv)[0]),
    }, right, monkeypatch=monkeypatch)


# --------------------------------------------------------------------------- lesson 04


def test_cycle_loss(monkeypatch):
    """Guards Y2: both round trips, L1, summed, unweighted."""
    l1 = lambda x, y: ops.mean(ops.abs(x - y))  # noqa: E731
    mae = keras.losses.MeanAbsoluteError()
    assert_rejects(checks.check_cycle_loss, {
        "averaged": lambda a, ca, b, cb: (l1(ca, a) + l1(cb, b)) / 2,
        "squared": lambda a, ca, b, cb: ops.mean(ops.square(ca - a)) + ops.mean(ops.square(cb - b)),
        "only the A -> B -> A": lambda a, ca, b, cb: l1(ca, a),
        "only the B -> A -> B": lambda a, ca, b, cb: l1(cb, b),
        "non-zero": lambda a, ca, b, cb: l1(ca, b) + l1(cb, a),
        "multiplied by lambda": lambda a, ca, b, cb: 10.0 * (l1(ca, a) + l1(cb, b)),
    }, lambda a, ca, b, cb: mae(a, ca) + mae(b, cb), monkeypatch=monkeypatch)


def test_lsgan_losses(monkeypatch):
    d = lambda r, f: 0.5 * (ops.mean(ops.square(r - 1.0)) + ops.mean(ops.square(f)))  # noqa: E731
    g = lambda f: ops.mean(ops.square(f - 1.0))  # noqa: E731
    mse = keras.losses.MeanSquaredError()
    assert_rejects(checks.check_lsgan_losses, {
        "factor 0.5": (lambda r, f: 2 * d(r, f), g),
        "no sigmoid": (lambda r, f: d(ops.sigmoid(r), ops.sigmoid(f)), g),
        "target is 1": (d, lambda f: ops.mean(ops.square(f))),
        "expected 1.25": (lambda r, f: 0.5 * (ops.mean(ops.square(r)) + ops.mean(ops.square(f - 1.0))), g),
    }, lambda r, f: 0.5 * mse(ops.ones_like(r), r) + 0.5 * mse(ops.zeros_like(f), f),
        lambda f: mse(ops.ones_like(f), f), monkeypatch=monkeypatch)


# --------------------------------------------------------------------------- lesson 04: the rest, and the machinery


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


def test_instance_norm(monkeypatch):
    """CycleGAN's instance normalisation: per image and per channel, not BatchNorm's or LayerNorm's."""
    def right(x):  # another correct form: NumPy, with the variance written out
        x = np.asarray(x, dtype=np.float64)
        centred = x - x.mean(axis=(1, 2), keepdims=True)
        return centred / np.sqrt(np.mean(centred ** 2, axis=(1, 2), keepdims=True) + 1e-5)

    def over(axes, epsilon=1e-5, power=0.5):
        return lambda x: ((x - ops.mean(x, axis=axes, keepdims=True))
                          / (ops.var(x, axis=axes, keepdims=True) + epsilon) ** power)

    assert_rejects(checks.check_instance_norm, {
        "BatchNorm": over((0, 1, 2)),
        "LayerNorm": over((1, 2, 3)),
        "epsilon": over((1, 2), epsilon=0.0),
        "divided by the variance": over((1, 2), power=1.0),
        "keep every axis": lambda x: ops.mean(x, axis=(1, 2)),
    }, right, monkeypatch=monkeypatch)


def test_the_instance_norm_check_compares_with_the_layer():
    """The lesson says the check compares the learner's function with GroupNormalization(groups=-1): it does."""
    layer = layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False)
    assert run(checks.check_instance_norm, lambda x: layer(x))[0] == "correct"


# --------------------------------------------------------------------------- lesson 05


def test_knn_radii(monkeypatch):
    """Part of E1 (quality measured, not described): the radii of precision/recall skip each point itself."""
    from scipy.spatial.distance import cdist

    def right(features, k):  # another correct form: SciPy's distances, np.partition
        distances = cdist(features, features)
        np.fill_diagonal(distances, np.inf)
        return np.partition(distances, k - 1, axis=1)[:, k - 1]

    def with_self(features, k):
        return np.sort(cdist(features, features), axis=1)[:, k - 1]

    assert_rejects(checks.check_knn_radii, {
        "the point itself was counted": with_self,
        "squared distances": lambda f, k: right(f, k) ** 2,
        "farthest": lambda f, k: np.sort(cdist(f, f), axis=1)[:, -k],
        "were expected": lambda f, k: np.sort(np.where(np.eye(len(f), dtype=bool), np.inf, cdist(f, f, "cityblock")),
                                              axis=1)[:, k - 1],
    }, right, monkeypatch=monkeypatch)


def test_roc_auc(monkeypatch):
    """Part of E2 (a detector of generated images): its AUC, label 1 = generated, ties counting one half."""
    from sklearn.metrics import roc_auc_score

    def pairs(scores, labels, tie=0.5):
        generated, real = scores[labels == 1], scores[labels == 0]
        return float(np.mean((generated[:, None] > real) + tie * (generated[:, None] == real)))

    assert_rejects(checks.check_roc_auc, {
        "wrong way round": lambda s, l: 1.0 - roc_auc_score(l, s),
        "accuracy at threshold 0.5": lambda s, l: float(np.mean((np.asarray(s) > 0.5) == l)),
        "ties are not counted as one half": lambda s, l: pairs(s, l, tie=0.0),
        "equal scores counts 1/2": lambda s, l: pairs(s, l, tie=1.0),
    }, lambda s, l: float(roc_auc_score(l, s)), monkeypatch=monkeypatch)


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


# --------------------------------------------------------------------------- 02.4 and 03.4: the learner's own step


def _d_phase(gan, real_images, fakes, swap=False, training=True):
    real_logits = gan.discriminator(real_images, training=training)
    fake_logits = gan.discriminator(fakes, training=training)
    loss = gan.d_loss(fake_logits, real_logits) if swap else gan.d_loss(real_logits, fake_logits)
    return {"d": loss}, (real_logits, fake_logits)


def _logs(gan, d, g, real_logits, fake_logits):
    return gan.track({"d_loss": d, "g_loss": g, "D(x)": ops.mean(ops.sigmoid(real_logits)),
                      "D(G(z))": ops.mean(ops.sigmoid(fake_logits))})


def _step(*, swap=False, reuse_fakes=False, g_first=False, minimax=False, g_inference=False, one_noise=False,
          both_networks=False):
    """The DCGAN step, right by default, with one mistake switched on."""
    def step(gan, real_images):
        batch = ops.shape(real_images)[0]
        z = gan.noise(batch)
        fakes = ops.stop_gradient(gan.generator(z, training=True))

        def g_phase():
            new_z = z if one_noise else gan.noise(batch)
            images = fakes if reuse_fakes else gan.generator(new_z, training=not g_inference)
            logits = gan.discriminator(images, training=not g_inference)
            loss = -ops.mean(ops.softplus(logits)) if minimax else gan.g_loss(logits)
            return {"g": loss}, None

        variables = gan.generator.trainable_variables + (gan.discriminator.trainable_variables if both_networks else [])
        if g_first:
            g, _ = gan.update(g_phase, [("g", gan.g_optimizer, variables)])
        d, (real_logits, fake_logits) = gan.update(lambda: _d_phase(gan, real_images, fakes, swap),
                                                   [("d", gan.d_optimizer, gan.discriminator.trainable_variables)])
        if not g_first:
            g, _ = gan.update(g_phase, [("g", gan.g_optimizer, variables)])
        return _logs(gan, d["d"], g["g"], real_logits, fake_logits)
    return step


def test_train_step_rejects_the_mistakes_of_a_hand_written_gan_step(monkeypatch):
    """Guards G3, G5, G6, G7, G8 in the learner's own train step (exercise 02.4)."""
    def with_tape(gan, real_images):  # the right step written another way: TensorFlow's tape, apply_gradients
        import tensorflow as tf

        batch = ops.shape(real_images)[0]
        fakes = gan.generator(gan.noise(batch), training=True)
        with tf.GradientTape() as tape:
            real_logits = gan.discriminator(real_images, training=True)
            fake_logits = gan.discriminator(fakes, training=True)
            d = gan.d_loss(real_logits, fake_logits)
        d_vars = gan.discriminator.trainable_variables
        gan.d_optimizer.apply_gradients(zip(tape.gradient(d, d_vars), d_vars))
        with tf.GradientTape() as tape:
            g = losses.generator_loss(gan.discriminator(gan.generator(gan.noise(batch), training=True), training=True))
        g_vars = gan.generator.trainable_variables
        gan.g_optimizer.apply_gradients(zip(tape.gradient(g, g_vars), g_vars))
        return _logs(gan, d, g, real_logits, fake_logits)

    def no_logs(gan, real_images):
        _step()(gan, real_images)
        return None

    right = with_tape if keras.backend.backend() == "tensorflow" else _step()
    assert_rejects(checks.check_train_step, {
        "D's update differs": _step(swap=True),  # G6: fakes labelled real
        "carried no gradient": _step(reuse_fakes=True),  # G3: G's loss on constant images
        "G's update differs": _step(minimax=True),  # G7: the saturating loss
        "training mode": _step(g_inference=True),  # G5: BatchNorm in inference mode in G's phase
        "does not own": _step(both_networks=True),  # G3/G8: G's optimizer handed D's variables too
        "after D's update": _step(g_first=True),  # G before D: G's update then sees the old D
        "fresh noise": _step(one_noise=True),  # one draw for both phases
        "logs": no_logs,
    }, right, monkeypatch=monkeypatch)


def _elbo_loss(*, target="target", beta=True, pixel_mean=False, sign=1.0, track=True):
    def compute_loss(vae, x, y, y_pred, sample_weight=None, training=True):
        images = y_pred["target"] if target == "target" else x
        logits, mean, log_var = y_pred["logits"], y_pred["mean"], y_pred["log_var"]
        recon = -ops.sum(ops.reshape(images * logits - ops.softplus(logits), (ops.shape(images)[0], -1)), axis=1)
        if pixel_mean:
            recon = recon / 784.0
        kl = 0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=1)
        loss = ops.mean(recon + (vae.beta if beta else 1.0) * kl)
        if track:
            vae.reconstruction_tracker.update_state(ops.mean(recon))
            vae.kl_tracker.update_state(ops.mean(kl))
        return sign * loss
    return compute_loss


def test_compute_loss_rejects_the_elbo_mistakes(monkeypatch):
    """Guards V2, V5 and V6 in the learner's own compute_loss (exercise 03.4)."""
    assert_rejects(checks.check_compute_loss, {
        "scores x": _elbo_loss(target="x"),  # the raw grey images, not what the model saw
        "beta is ignored": _elbo_loss(beta=False),
        "negative ELBO is": _elbo_loss(pixel_mean=True),  # V5
        "your loss is": _elbo_loss(sign=-1.0),  # V2: the ELBO maximised as a loss
    }, _elbo_loss(), monkeypatch=monkeypatch)


def test_the_course_steps_handed_back_work_inside_the_lessons_subclasses():
    """Lessons 02 and 03 train a subclass whose step (loss) calls what the check handed back: for an
    exercise not done, the course's version must not call the subclass's own method again."""
    from course import backend
    from course.models import dcgan, vae

    train_step = checks.check_train_step(not_done)

    class LessonDCGAN(dcgan.DCGAN):
        def step(self, real_images):
            return train_step(self, real_images)

    gan = LessonDCGAN(dcgan.build_generator((28, 28, 1), 16, width=8), dcgan.build_discriminator((28, 28, 1), 8),
                      seed=0)
    gan.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05))
    logs = backend.run_step(gan, gan.step, np.zeros((4, 28, 28, 1), "float32"))
    assert {"d_loss", "g_loss"} <= set(logs) and int(ops.convert_to_numpy(gan.g_optimizer.iterations)) == 1

    compute_loss = checks.check_compute_loss(not_done)

    class LessonVAE(vae.VAE):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return compute_loss(self, x, y, y_pred, sample_weight, training)

    model = LessonVAE(vae.build_encoder(latent_dim=2), vae.build_decoder(latent_dim=2), seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    history = model.fit(np.full((4, 28, 28, 1), 0.5, "float32"), epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
