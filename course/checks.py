"""Self-checks for the exercises. Each takes the learner's function, tries it on small
cases with known answers, prints what passed, and raises ``AssertionError`` with a
hint when something is off. They need no notebook path and no dataset, so they
work the same in Jupyter, Colab and the tests.
"""
from __future__ import annotations

import numpy as np


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
    import keras

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
