"""Self-checks for the exercises. Each tries the learner's function on small cases with known
answers and on the mistakes learners (and the source material) make, and says what it found.

A check never stops the lesson: it prints one of

* ``correct`` -- and hands back the learner's function, which the lesson then uses;
* ``not done yet`` -- the exercise still raises ``NotImplementedError``;
* ``not right yet``, with what is wrong and a hint -- for a wrong answer or a crash;

and in the last two cases hands back the course's own version, so "Run all" goes through
(``scale_images = checks.check_scale_images(scale_images)``). :func:`scoreboard` prints
every result of the session. The checks need no notebook path and no dataset, so they work
the same in Jupyter, Colab and the tests. The grader (:mod:`course.grading`) runs them in its own
process, with the stricter cases on (``COURSE_CHECKS=strict``: other shapes and values), on stand-ins
that call the learner's functions inside the sandboxed kernel: what a kernel records here is for the
learner only and is never read as a grade.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Callable

import keras
import numpy as np
from keras import layers, ops

from . import backend, foundations, losses, metrics
from .models import dcgan


class Wrong(Exception):
    """A wrong answer: what is wrong, and a hint towards the fix."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message, self.hint = message, hint


@dataclass
class Result:
    exercise: str
    title: str
    status: str  # "correct", "not done", "wrong"
    message: str = ""
    hint: str = ""


#: The results of this session's checks, by exercise.
RESULTS: dict[str, Result] = {}


def strict() -> bool:
    """True when the grader asks for the stricter cases (``COURSE_CHECKS=strict``)."""
    return os.environ.get("COURSE_CHECKS", "").lower() == "strict"


def _record(result: Result) -> None:
    """Keep ``result`` for :func:`scoreboard` (in the grader's own process: for the grade) and, when
    ``COURSE_CHECKS_LOG`` names a file, append it there for the learner's own tools (never read as a grade)."""
    RESULTS[result.exercise] = result
    log = os.environ.get("COURSE_CHECKS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(result)) + "\n")


def _run(exercise: str, title: str, test: Callable[[], str], answer, fallback):
    """Run one check and say what it found; returns what the lesson uses from here on: the learner's
    ``answer`` when it is correct, else the course's ``fallback``."""
    name = f"Exercise {exercise} ({title})"
    try:
        message = test()
    except NotImplementedError:
        _record(Result(exercise, title, "not done"))
        print(f"{name}: not done yet. The lesson goes on with the course's version.")
        return fallback
    except Wrong as wrong:
        _record(Result(exercise, title, "wrong", wrong.message, wrong.hint))
        print(f"{name}: not right yet: {wrong.message}\nHint: {wrong.hint}\n"
              "The lesson goes on with the course's version; fix yours and run the cell again.")
        return fallback
    except Exception as err:  # the learner's code crashed: say where, not a traceback
        message = f"your code raised {type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        _record(Result(exercise, title, "wrong", message, "run it on a small input and look at the shapes."))
        print(f"{name}: not right yet: {message}\nThe lesson goes on with the course's version; fix yours and run "
              "the cell again.")
        return fallback
    _record(Result(exercise, title, "correct", message))
    print(f"{name}: correct. {message}")
    return answer


def scoreboard(results: dict[str, Result] | None = None) -> str:
    """A table of this session's exercises: correct / not done / not right yet (with the hint); also printed."""
    results = RESULTS if results is None else results
    if not results:
        text = "No exercise has been checked yet in this session."
    else:
        marks = {"correct": "correct", "not done": "not done yet", "wrong": "not right yet"}
        lines = [f"{'exercise':<10}{'':<2}{'result':<15}title"]
        for key in sorted(results):
            r = results[key]
            lines.append(f"{r.exercise:<10}{'':<2}{marks[r.status]:<15}{r.title}")
            if r.status == "wrong":
                lines.append(f"{'':<12}{r.message} -- hint: {r.hint}")
        done = sum(r.status == "correct" for r in results.values())
        lines.append(f"{done} of {len(results)} correct.")
        text = "\n".join(lines)
    print(text)
    return text


def _raised(err: BaseException, kind: type) -> bool:
    """Whether ``err`` is a ``kind``, or stands for one raised elsewhere (the grader's stand-ins re-raise the
    learner's exception as a class of the same name)."""
    return isinstance(err, kind) or type(err).__name__ == kind.__name__


def _array(x) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x))


def _scalar(x) -> float:
    value = _array(x)
    if value.size != 1:
        raise Wrong(f"the function returns {value.size} numbers of shape {value.shape}, expected one number",
                    "average over the batch (ops.mean) so that the loss is a single number.")
    return float(value.reshape(()))


# --------------------------------------------------------------------------- lesson 00


def _regression_case(seed: int, n: int = 60, features: int = 2):
    rng = np.random.default_rng(seed)
    x = rng.normal(4.0, 1.0, (n, features))  # far from the origin, so that the intercept matters (F1)
    y = x @ rng.uniform(-2.5, 2.5, features) + rng.uniform(5.0, 9.0) + rng.normal(0, 0.05, n)
    return x, y


def check_linear_regression(fit):
    """Exercise 00.1: ``fit(x, y) -> (w, b)``, the least-squares slopes and intercept together (F1)."""

    def test():
        for seed, n, d in ((0, 60, 2), (1, 40, 3), (2, 25, 1)) if strict() else ((0, 60, 2),):
            x, y = _regression_case(seed, n, d)
            w, b = fit(x.copy(), y.copy())
            w, b = _array(w).reshape(-1), _array(b).reshape(-1)
            w_ref, b_ref = foundations.linear_regression(x, y)
            if b.size == d and w.size == 1 and d > 1:
                raise Wrong("(w, b) come back the wrong way round: b has one number per feature",
                            "return the slopes first and the intercept second: theta[1:], theta[0].")
            if w.size == d + 1:
                raise Wrong(f"w has {w.size} numbers for {d} features: the intercept is still in it",
                            "theta = (b, w): return theta[1:] as w and theta[0] as b.")
            if w.size != d:
                raise Wrong(f"w has {w.size} numbers for {d} features", "one slope per feature; b apart.")
            if b.size != 1:
                raise Wrong(f"b has {b.size} numbers, expected one", "the intercept is a single number: theta[0].")
            b = float(b[0])
            if not (np.allclose(w, w_ref, atol=1e-4) and abs(b - b_ref) < 1e-3):
                through_origin = np.linalg.lstsq(x, y, rcond=None)[0]
                if np.allclose(w, through_origin, atol=1e-3):
                    raise Wrong("the slopes are those of a line through the origin",
                                "put a column of ones in front of x and solve for the intercept and the slopes "
                                "together; an intercept from the residuals afterwards is not least squares.")
                if np.allclose(w, w_ref[::-1], atol=1e-4) and d > 1:
                    raise Wrong("the slopes are in the wrong order", "one slope per column of x, in x's order.")
                raise Wrong(f"w = {np.round(w, 3)}, b = {b:.3f}; least squares gives w = {np.round(w_ref, 3)}, "
                            f"b = {b_ref:.3f}", "solve the normal equations (X^T X) theta = X^T y with X = [1, x], "
                            "exactly (np.linalg.solve), without a penalty or a fixed number of features.")
        return "intercept and slopes solved together, as numpy.linalg.lstsq on [1, x]."

    return _run("00.1", "linear regression with an intercept", test, fit, foundations.linear_regression)


def check_logistic_gradient(gradient):
    """Exercise 00.2: ``gradient(w, b, x, y) -> (dw, db)`` of the mean cross-entropy from logits (F2);
    ``dw`` has the shape of ``w``, so that ``w - lr * dw`` does not broadcast."""

    def test():
        rng = np.random.default_rng(5)
        for n, d in ((40, 3), (7, 1), (25, 4)) if strict() else ((40, 3),):
            x = rng.normal(size=(n, d))
            y = (rng.uniform(size=(n, 1)) < 0.5).astype("float64")
            w, b = rng.normal(size=(d, 1)), np.array([0.2])
            dw, db = gradient(w.copy(), b.copy(), x.copy(), y.copy())
            dw, db = _array(dw), _array(db).reshape(-1)
            ref_w, ref_b = foundations.logistic_gradient(w, b, x, y)
            if dw.size != d:
                raise Wrong(f"dw has shape {dw.shape}, expected ({d}, 1)",
                            "keep p and y both (n, 1): (n, 1) - (n,) broadcasts to (n, n).")
            if dw.shape != w.shape:
                raise Wrong(f"dw has shape {dw.shape} but w has shape {w.shape}: w - lr * dw would broadcast "
                            f"to {np.broadcast_shapes(w.shape, dw.shape)}",
                            "a gradient has its variable's shape: keep dw (d, 1), as X^T (p - y) / n gives it.")
            if db.size != 1:
                raise Wrong(f"db has {db.size} numbers, expected one", "db = mean(p - y): one number for one bias.")
            p = 1 / (1 + np.exp(-(x @ w + b)))
            if np.allclose(dw, x.T @ ((p - y) * p * (1 - p)) / n, atol=1e-6):
                raise Wrong("this is the gradient of the mean squared error through the sigmoid",
                            "use the cross-entropy: its gradient is X^T (p - y) / n.")
            if np.allclose(dw, -ref_w, atol=1e-6):
                raise Wrong("dw points the wrong way (y - p instead of p - y)",
                            "the gradient of the loss is X^T (p - y) / n; descent then subtracts it.")
            if np.allclose(dw, ref_w * n, atol=1e-6) and n > 1:
                raise Wrong("dw is summed over the examples", "divide by n: the loss is a mean.")
            if not (np.allclose(dw, ref_w, atol=1e-6) and np.allclose(db, ref_b, atol=1e-6)):
                raise Wrong("the gradient differs from automatic differentiation's",
                            "dw = X^T (sigmoid(Xw + b) - y) / n and db = mean(sigmoid(Xw + b) - y).")
        return "X^T (p - y) / n, as automatic differentiation gives."

    return _run("00.2", "the logistic-regression gradient", test, gradient, foundations.logistic_gradient)


def check_flatten_images(flatten):
    """Exercise 00.3: ``flatten(images, image_shape=None)``: rows ``(N, height * width)`` of pixel / 255; with
    ``image_shape``, images of that shape are accepted and images of any other shape refused (F3)."""

    def refused(images, image_shape) -> bool:
        try:
            flatten(images, image_shape=image_shape)
        except Exception:  # noqa: BLE001 -- any clear refusal will do
            return True
        return False

    def test():
        rng = np.random.default_rng(0)
        cases = [((5, 28, 28), (4, 14, 14), (56, 14))]  # (fitted batch, smaller images, same pixel count)
        if strict():
            cases.append(((3, 20, 24), (6, 12, 10), (24, 20)))
        for fitted, small, reshaped in cases:
            images = rng.integers(0, 200, fitted).astype(np.uint8)  # no white pixel: / 255, not / max
            pixels = int(np.prod(fitted[1:]))
            rows = _array(flatten(images.copy()))
            if rows.shape != (fitted[0], pixels):
                raise Wrong(f"{fitted[0]} images {fitted[1:]} gave rows of shape {rows.shape}, expected "
                            f"{(fitted[0], pixels)}", "one row per image: images.reshape(len(images), -1).")
            if np.allclose(rows, images.reshape(len(images), -1) / images.max(), atol=1e-6):
                raise Wrong("the pixels are divided by the batch's brightest pixel",
                            "divide by 255, the largest possible value, whatever the batch holds.")
            expected = images.reshape(len(images), -1) / 255.0
            if not np.allclose(rows, expected, atol=1e-6):
                raise Wrong("the values are not pixel / 255 in the images' own pixel order",
                            "images.reshape(len(images), -1) / 255: no transpose, no other scale.")
            smaller = rng.integers(0, 256, small).astype(np.uint8)
            rows = _array(flatten(smaller.copy()))
            if rows.shape != (small[0], int(np.prod(small[1:]))):
                raise Wrong(f"{small[0]} images {small[1:]} gave rows of shape {rows.shape}, expected "
                            f"{(small[0], int(np.prod(small[1:])))}",
                            "do not hard-code 784: reshape(len(images), -1) keeps one row per image.")
            try:
                same = _array(flatten(images.copy(), image_shape=fitted[1:]))
            except Exception as err:  # noqa: BLE001
                raise Wrong(f"images {fitted[1:]} were refused for image_shape={fitted[1:]} "
                            f"({type(err).__name__}: {str(err)[:120]})",
                            "compare the image shape, images.shape[1:], with image_shape (not the batch size), and "
                            "refuse only when they differ.") from None
            if not np.allclose(same, expected, atol=1e-6):
                raise Wrong("with image_shape given the rows differ from the rows without it",
                            "image_shape only decides whether to refuse; flatten the same way.")
            if not refused(smaller, fitted[1:]):
                raise Wrong(f"images {small[1:]} were accepted for a PCA fitted on {fitted[1:]}",
                            "compare images.shape[1:] with image_shape and raise an error naming both.")
            if not refused(images.reshape(len(images), *reshaped), fitted[1:]):
                raise Wrong(f"images {reshaped} were accepted for a PCA fitted on {fitted[1:]}: the same number of "
                            "pixels, but not the same images",
                            "compare the shapes themselves, images.shape[1:] with image_shape, not the pixel count.")
        return "rows of pixel / 255; images of the fitted shape are accepted, of any other shape refused."

    return _run("00.3", "flatten images for PCA", test, flatten, foundations.flatten_images)


def check_hide_labels(hide):
    """Exercise 00.4: ``hide(labels, labelled, seed=0)``: a copy of integer labels (MNIST's are uint8) in which all
    but ``labelled`` of them, spread over the classes as evenly as possible, become -1 (F4)."""

    def test():
        cases = [(np.repeat(np.arange(4), 10).astype(np.uint8), 8), (np.repeat(np.arange(4), 10).astype(np.uint8), 6)]
        if strict():
            shuffled = np.random.default_rng(7).permutation(np.repeat(np.arange(10), 7)).astype(np.uint8)
            cases += [(shuffled, 3), (shuffled, 25), (np.repeat(np.arange(3), 9).astype(np.int64), 7)]
        for labels, labelled in cases:
            given = labels.copy()
            try:
                out = _array(hide(given, labelled, seed=0))
            except Exception as err:  # noqa: BLE001
                if not _raised(err, OverflowError):
                    raise
                raise Wrong(f"-1 does not fit in the labels' dtype ({labels.dtype}, as MNIST's labels are)",
                            "build the result in a signed integer array: np.full(len(labels), -1), then copy the "
                            "kept labels into it.") from None
            if not np.array_equal(given, labels):
                raise Wrong("the labels passed in were changed", "work on a new array and return it; the lesson "
                            "still needs every true label to measure the accuracy.")
            if out.shape != labels.shape:
                raise Wrong(f"{out.size} labels for {labels.size} points", "one label per point, -1 when hidden.")
            if not np.issubdtype(out.dtype, np.integer):
                raise Wrong(f"the labels come back as {out.dtype}",
                            "label propagation classifies: keep integer classes, and -1 for the hidden ones.")
            if np.issubdtype(out.dtype, np.unsignedinteger):
                raise Wrong(f"the labels come back as {out.dtype}, which cannot hold -1 (it wraps round to "
                            f"{np.iinfo(out.dtype).max})", "use a signed integer array: np.full(len(labels), -1).")
            kept = out != -1
            if kept.sum() != labelled:
                marks = sorted(set(out[~kept].tolist()) | set(out.tolist()))[:5]
                raise Wrong(f"{kept.sum()} labels kept, expected {labelled} (values seen: {marks})",
                            "mark every other point -1: scikit-learn reads -1 as unlabelled, 0 is a class.")
            if not np.array_equal(out[kept], labels[kept]):
                raise Wrong("some kept labels were changed", "keep the labelled points' own classes.")
            counts = np.array([np.sum(labels[kept] == c) for c in np.unique(labels)])
            if counts.max() - counts.min() > 1:
                raise Wrong(f"the {labelled} kept labels are not spread over the classes: {counts.tolist()} per class",
                            "take the classes in turn (np.unique(labels)), a random point of each, so that every "
                            "class keeps about labelled / classes labels; the first few points may all be one class.")
            if not np.array_equal(_array(hide(labels.copy(), labelled, seed=0)), out):
                raise Wrong("the same seed gave other labels on a second call",
                            "draw with np.random.default_rng(seed), not with the global random state.")
        return "-1 for every hidden point, the kept labels spread over the classes, the input left alone."

    return _run("00.4", "mark the unlabelled points", test, hide, foundations.hide_labels)


# --------------------------------------------------------------------------- lesson 01


def check_scale_images(scale_images):
    """Exercise 01.1: uint8 ``(N, 28, 28)`` -> float32 ``(N, 28, 28, 1)`` in [0, 1]."""

    def test():
        cases = [np.pad(np.array([[[0, 255], [128, 64]], [[200, 200], [0, 1]]], np.uint8), ((0, 0), (0, 26), (0, 26))),
                 np.pad(np.array([[[0, 200], [100, 50]]], np.uint8), ((0, 0), (0, 26), (0, 26)))]  # no white pixel
        if strict():
            cases.append(np.random.default_rng(1).integers(0, 256, (5, 28, 28)).astype(np.uint8))
        for images in cases:
            out = _array(scale_images(images))
            n = len(images)
            if out.shape == (n, 28, 28):
                raise Wrong(f"output shape is {out.shape}, expected ({n}, 28, 28, 1)",
                            "add a channel axis at the end: x[..., None] or np.expand_dims(x, -1).")
            if out.shape == (n, 1, 28, 28):
                raise Wrong(f"output shape is {out.shape}: the channel axis comes first",
                            "Keras layers expect channels last: (N, 28, 28, 1); use x[..., None].")
            if out.shape != (n, 28, 28, 1):
                raise Wrong(f"output shape is {out.shape}, expected ({n}, 28, 28, 1)", "keep the batch axis first.")
            if out.dtype != np.float32:
                raise Wrong(f"output dtype is {out.dtype}, expected float32",
                            "convert before dividing: x.astype('float32') (float64 doubles memory and time).")
            expected = images[..., None].astype(np.float32) / 255.0
            if np.allclose(out, images[..., None].astype(np.float32) / 256.0, atol=1e-6):
                raise Wrong("pixels are divided by 256", "255 is the brightest pixel: divide by 255 so it maps to 1.0.")
            if np.allclose(out, images[..., None] / max(1, images.max()), atol=1e-6) and images.max() != 255:
                raise Wrong("pixels are divided by the batch's brightest pixel",
                            "divide by 255, the largest possible value: a batch without a white pixel must not "
                            "change scale.")
            if not np.allclose(out, expected, atol=1e-6):
                raise Wrong(f"values span [{out.min():.3g}, {out.max():.3g}], expected pixel / 255 in [0, 1]",
                            "divide by 255.")
        return "shape (N, 28, 28, 1), float32, pixel / 255."

    return _run("01.1", "scale the pixels", test, scale_images, lambda x: (np.asarray(x, np.float32) / 255.0)[..., None])


def _small_cnn(input_shape, num_classes):
    """The course's version of exercise 01.2: the lesson-01 network, narrower."""
    from .models import cnn

    return cnn.build_classifier(tuple(input_shape), num_classes, widths=(16, 32), convs=(1, 1), dropout=0.0)


def _output_activation(model) -> str:
    """The name of the squashing function the model applies last (a layer's activation, an activation
    layer or a ``keras.ops`` call on the output); "" when the outputs are left as they are."""
    try:
        last = model.outputs[0]._keras_history.operation
    except (AttributeError, IndexError, TypeError, ValueError):
        last = model.layers[-1] if model.layers else None
    kinds = {layers.Softmax: "softmax", layers.ReLU: "relu", layers.ELU: "elu", layers.LeakyReLU: "leaky_relu"}
    for kind, name in kinds.items():
        if isinstance(last, kind):
            return name
    if hasattr(last, "activation"):
        name = getattr(last.activation, "__name__", "") if last.activation is not None else ""
    else:
        name = type(last).__name__.lower()
    squashing = ("softmax", "sigmoid", "relu", "relu6", "tanh", "elu", "selu", "gelu", "silu", "softplus",
                 "leaky_relu", "hard_sigmoid", "exp", "abs", "square")
    return name if name in squashing else ""


def check_classifier(build_fn):
    """Exercise 01.2: ``build_fn(input_shape, num_classes)`` returns a conv net that outputs logits."""

    def test():
        cases = [((28, 28, 1), 10), ((32, 32, 3), 7)] + ([((16, 16, 2), 3)] if strict() else [])
        for shape, k in cases:
            model = build_fn(shape, k)
            if not isinstance(model, keras.Model):
                raise Wrong(f"got a {type(model).__name__}, expected a keras.Model", "return keras.Model(inputs, outputs).")
            out_shape = tuple(model.output_shape)
            if len(out_shape) == 4:
                raise Wrong(f"the output has shape {out_shape}: Dense was applied to a 4-D feature map",
                            "flatten or pool the feature map first (layers.GlobalAveragePooling2D or Flatten).")
            if out_shape != (None, k):
                raise Wrong(f"for {k} classes the output shape is {out_shape}, expected (None, {k})",
                            "end with layers.Dense(num_classes): use the argument, not a fixed 10.")
            if tuple(model.input_shape[1:]) != shape:
                raise Wrong(f"for input_shape={shape} the model takes {model.input_shape[1:]}",
                            "build the Input from the input_shape argument.")
            if not any(isinstance(layer, layers.Conv2D) for layer in model._flatten_layers()):
                raise Wrong("the model has no Conv2D layer", "a CNN starts with convolutions: layers.Conv2D(16, 3, ...).")
            squashed = _output_activation(model)
            if squashed:
                what = "probabilities" if squashed == "softmax" else f"squashed by {squashed}"
                raise Wrong(f"the last layer applies {squashed}: the outputs are {what}, not logits",
                            "end with layers.Dense(num_classes) and no activation: logits are any real numbers, "
                            "and the loss (from_logits=True) applies the softmax itself.")
            x = np.random.default_rng(0).random((8, *shape)).astype("float32")
            out = _array(model(x, training=False))
            if np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
                raise Wrong("the outputs are probabilities (each row sums to 1)",
                            "leave the last Dense layer without softmax: the loss takes logits (from_logits=True).")
            if np.all(out >= 0) and np.any(out == 0) and np.any(out > 0):
                raise Wrong(f"{np.sum(out == 0)} of the {out.size} outputs on random images are exactly 0 and none is "
                            "negative: a relu squashes the logits", "end with layers.Dense(num_classes) and no "
                            "activation: a logit is any real number, negative for an unlikely class.")
        return f"a conv net that outputs one logit per class ({model.count_params():,} parameters for the last case)."

    return _run("01.2", "your own small CNN", test, build_fn, _small_cnn)


def check_loss(make_loss):
    """Exercise 01.3: ``make_loss()`` returns the loss for integer labels and logits (erratum C2)."""

    def test():
        cases = [(np.array([2, 0, 1], dtype=np.int64),
                  np.array([[1.0, 2.0, 3.0], [2.0, -1.0, 0.5], [0.0, 4.0, -2.0]], dtype=np.float32))]
        if strict():
            rng = np.random.default_rng(11)
            cases.append((rng.integers(0, 10, 6).astype(np.uint8), (rng.normal(size=(6, 10)) * 3).astype(np.float32)))
        loss = make_loss()
        if isinstance(loss, str):
            raise Wrong(f"got the string {loss!r}", "return the loss object, e.g. keras.losses.SomeLoss(...).")
        if isinstance(loss, keras.losses.CategoricalCrossentropy):
            raise Wrong("categorical cross-entropy expects one-hot labels, these are integers 0..9",
                        "integer labels need the *sparse* categorical cross-entropy (erratum C2).")
        for labels, logits in cases:
            n = len(labels)
            log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            expected = float(-log_softmax[np.arange(n), labels].mean())
            try:
                value = _scalar(loss(labels, logits))
            except Wrong:
                raise
            except Exception as err:
                raise Wrong(f"the loss fails on integer labels and logits ({type(err).__name__})",
                            "integer labels need the *sparse* categorical cross-entropy.") from None
            as_probabilities = _scalar(ops.mean(ops.sparse_categorical_crossentropy(labels, logits, from_logits=False)))
            if abs(value - as_probabilities) < 1e-4 and abs(value - expected) > 1e-4:
                raise Wrong("the loss treats the logits as probabilities", "pass from_logits=True: the model outputs "
                            "logits.")
            if abs(value - n * expected) < 1e-3 * n and n > 1:
                raise Wrong("the loss is summed over the batch", "keep the default reduction: the mean over the batch.")
            if abs(value - expected) > 1e-4:
                raise Wrong(f"on a hand-made case the loss is {value:.4f}, expected {expected:.4f}",
                            "SparseCategoricalCrossentropy(from_logits=True): the model outputs logits, not "
                            "probabilities.")
        return f"sparse categorical cross-entropy on logits ({value:.4f} on the last case)."

    return _run("01.3", "choose the loss", test, make_loss,
                lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def _accuracy_from_logits(logits, labels) -> float:
    return float(np.mean(np.argmax(_array(logits), axis=1) == np.asarray(labels)))


def check_accuracy_from_logits(accuracy_fn):
    """Exercise 01.4: the fraction of rows whose largest logit is the label."""

    def test():
        logits = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0], [-5.0, -4.0, -6.0], [0.0, 0.0, 1.0]], np.float32)
        labels = np.array([1, 0, 0, 2])
        value = float(accuracy_fn(logits, labels))
        if abs(value - 3) < 1e-6:
            raise Wrong("got 3, a count", "divide by the number of rows: the accuracy is a fraction (np.mean).")
        if abs(value - 75) < 1e-6:
            raise Wrong("got 75, a percentage", "return the fraction, 0.75; format it as a percentage when printing.")
        if abs(value - 0.75) > 1e-6:
            raise Wrong(f"got {value}, expected 0.75 (3 of 4 rows right)",
                        "compare np.argmax(logits, axis=1) (one class per row) with the labels and take the mean.")
        if strict():
            rng = np.random.default_rng(3)
            z, y = rng.normal(size=(50, 10)), rng.integers(0, 10, 50)
            if abs(float(accuracy_fn(z, y)) - _accuracy_from_logits(z, y)) > 1e-9:
                raise Wrong("wrong on 50 random rows of 10 classes", "argmax over axis=1.")
        return "accuracy from logits without any softmax (argmax is unchanged by it)."

    return _run("01.4", "accuracy from logits", test, accuracy_fn, _accuracy_from_logits)


# --------------------------------------------------------------------------- lesson 02


def _logit_cases(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 1)).astype("float32") * 3, rng.normal(size=(n, 1)).astype("float32") * 3


def check_discriminator_loss(d_loss_fn):
    """Exercise 02.1: D's loss from logits: real -> 1, fake -> 0 (errata G6, G7). Either form is right: the mean
    over the real logits plus the mean over the fake ones (tensorflow/docs), or one mean over the joined batch
    (keras.io), half of it for halves of one size (a constant factor changes the logged value, not Adam's steps)."""

    def test():
        forms = None
        for n, seed in ((6, 0), (10, 1)) if strict() else ((6, 0),):
            real, fake = _logit_cases(n=n, seed=seed)
            value = _scalar(d_loss_fn(real, fake))
            sp = lambda t: np.log1p(np.exp(t))  # noqa: E731 - softplus in NumPy
            bce = keras.losses.BinaryCrossentropy()
            summed = {  # each labelling, as the sum of the two halves' means
                "right": sp(-real).mean() + sp(fake).mean(),
                "swapped": sp(real).mean() + sp(-fake).mean(),
                "fakes real": sp(-real).mean() + sp(-fake).mean(),
                "probabilities": _scalar(bce(np.ones_like(real), real)) + _scalar(bce(np.zeros_like(fake), fake)),
            }
            # the sum of the means, or one mean over the joined batch (half the sum: the halves are the same size)
            found = [(name, scale) for name, total in summed.items() for scale in (1.0, 0.5)
                     if abs(value - scale * total) < 1e-4 * max(1.0, abs(total))]
            if ("right", 1.0) in found or ("right", 0.5) in found:
                scale = 1.0 if ("right", 1.0) in found else 0.5
                if forms is not None and forms != scale:
                    raise Wrong("the two test batches got two different forms of the loss",
                                "one formula for every batch.")
                forms = scale
                continue
            names = {name for name, _ in found}
            if "swapped" in names:
                raise Wrong("real and fake are swapped", "real images are labelled 1 and generated ones 0.")
            if "fakes real" in names:
                raise Wrong("the fakes are labelled real (G6)",
                            "D's loss labels generated images 0: softplus(fake_logits).")
            if "probabilities" in names:
                raise Wrong("the logits were read as probabilities", "BinaryCrossentropy(from_logits=True).")
            for total in (summed["right"], 0.5 * summed["right"]):
                if abs(value + total) < 1e-4:
                    raise Wrong("the sign is flipped: this is the quantity D maximises",
                                "D *minimises* the binary cross-entropy: return it, not its negative (G7).")
                if abs(value - n * total) < 1e-3 * n:
                    raise Wrong("the loss is summed over the batch", "average over the batch: ops.mean, not ops.sum.")
            raise Wrong(f"got {value:.4f}, expected {summed['right']:.4f} (the sum of the two means) or "
                        f"{summed['right'] / 2:.4f} (one mean over the joined batch)",
                        "mean of softplus(-real_logits) plus mean of softplus(fake_logits), or "
                        "BinaryCrossentropy(from_logits=True) on the real logits labelled 1 and the fake ones "
                        "labelled 0, joined.")
        form = "the sum of the two means" if forms == 1.0 else "one mean over the joined batch"
        return f"D's loss labels real images 1 and generated ones 0, from logits ({form})."

    return _run("02.1", "the discriminator's loss", test, d_loss_fn, losses.discriminator_loss)


def check_generator_loss(g_loss_fn):
    """Exercise 02.2: the non-saturating generator loss ``-E log sigmoid(D(G(z)))`` (G7)."""

    def test():
        for n, seed in ((6, 0), (9, 2)) if strict() else ((6, 0),):
            _, fake = _logit_cases(n=n, seed=seed)
            expected = _scalar(losses.generator_loss(fake, "non_saturating"))
            try:
                value = _scalar(g_loss_fn(fake))
            except Exception as err:  # noqa: BLE001
                if not _raised(err, TypeError):
                    raise
                raise Wrong("the function wants real logits too",
                            "G never sees real data: its loss needs only D's logits on fakes (G7).") from None
            minimax = _scalar(losses.generator_loss(fake, "minimax"))
            if abs(value - minimax) < 1e-4:
                raise Wrong("that is the minimax (saturating) loss",
                            "the non-saturating loss is mean(softplus(-fake_logits)).")
            if abs(value + minimax) < 1e-4:
                raise Wrong("that labels the fakes 0: G would be trained to look fake",
                            "G labels its fakes 1 (real): mean(softplus(-fake_logits)).")
            if abs(value + expected) < 1e-4:
                raise Wrong("the sign is flipped", "G minimises -log sigmoid(D(G(z))) = softplus(-logit).")
            if abs(value - _scalar(keras.losses.BinaryCrossentropy()(np.ones_like(fake), fake))) < 1e-4:
                raise Wrong("the logits were read as probabilities", "BinaryCrossentropy(from_logits=True).")
            if abs(value - n * expected) < 1e-3 * n:
                raise Wrong("the loss is summed over the batch", "average over the batch: ops.mean, not ops.sum.")
            if abs(value - expected) > 1e-4:
                raise Wrong(f"got {value:.4f}, expected {expected:.4f}",
                            "BinaryCrossentropy(from_logits=True)(ones, fake_logits), or mean(softplus(-fake_logits)).")
        return "the non-saturating generator loss, from logits."

    return _run("02.2", "the non-saturating generator loss", test, g_loss_fn, lambda f: losses.generator_loss(f))


def _update_case(seed: int = 0):
    """A small DCGAN with plain SGD (an update proportional to its gradient, so the check can read the
    gradient back from it) and a discriminator that confidently rejects fakes (where the minimax loss
    gives G almost no gradient and the non-saturating one a strong one)."""
    keras.utils.set_random_seed(seed)
    gan = dcgan.DCGAN(dcgan.build_generator((28, 28, 1), 16, width=8), dcgan.build_discriminator((28, 28, 1), 8),
                      seed=seed)
    gan.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    logit = gan.discriminator.get_layer("logit")
    logit.bias.assign(np.full(logit.bias.shape, -4.0, "float32"))  # sigmoid(D(G(z))) is about 0.02
    z = np.random.default_rng(seed).standard_normal((8, 16)).astype("float32")
    drawn = []

    def noise(batch_size):
        drawn.append(batch_size)
        return ops.convert_to_tensor(z[:batch_size])

    gan.noise = noise
    return gan, z, drawn


def _generator_gradient(gan, z, kind):
    def loss():
        return losses.generator_loss(gan.discriminator(gan.generator(z, training=True), training=True), kind)

    with backend.preserved(gan.generator.non_trainable_variables):
        _, grads = backend.value_and_grad(loss, gan.generator.trainable_variables)
    return np.concatenate([_array(g).ravel() for g in grads])


def _generator_update(gan, batch_size):
    """The course's version of exercise 02.3: one update of G through D, on any backend."""
    z = gan.noise(batch_size)
    g_vars = gan.generator.trainable_variables

    def loss():
        return losses.generator_loss(gan.discriminator(gan.generator(z, training=True), training=True))

    _, grads = backend.value_and_grad(loss, g_vars)
    gan.g_optimizer.apply(grads, g_vars)


def check_generator_update(update_fn):
    """Exercise 02.3: ``update_fn(gan, batch_size)`` updates G through D, on the non-saturating loss,
    with both networks in training mode, and leaves D alone (errata G3, G5, G7)."""

    def test():
        for seed, batch_size in ((0, 8), (1, 5)) if strict() else ((0, 8),):
            gan, z, drawn = _update_case(seed)
            z = z[:batch_size]
            flat = lambda variables: np.concatenate([_array(v).ravel() for v in variables])  # noqa: E731
            g_before, d_before = flat(gan.generator.trainable_variables), flat(gan.discriminator.weights)
            bn_before = flat(gan.generator.non_trainable_variables)
            d_trainable = len(gan.discriminator.trainable_variables)
            ns, minimax = _generator_gradient(gan, z, "non_saturating"), _generator_gradient(gan, z, "minimax")
            d_steps, g_steps = int(_array(gan.d_optimizer.iterations)), int(_array(gan.g_optimizer.iterations))
            try:
                update_fn(gan, batch_size)
            except ValueError as err:
                if "Unknown variable" not in str(err):
                    raise
                raise Wrong("an optimizer was handed variables it does not own (the discriminator's?)",
                            "gan.g_optimizer updates gan.generator.trainable_variables only (G3, G5).") from None
            if not gan.discriminator.trainable or len(gan.discriminator.trainable_variables) != d_trainable:
                raise Wrong("the discriminator was left frozen (trainable = False): its own next update would train "
                            "nothing", "leave D.trainable alone and take the gradient over "
                            "gan.generator.trainable_variables only (G5).")
            if drawn != [batch_size]:
                raise Wrong(f"noise was drawn with gan.noise {len(drawn)} times (batch sizes {drawn}), expected "
                            f"once, for {batch_size}", "start from z = gan.noise(batch_size).")
            if not np.array_equal(d_before, flat(gan.discriminator.weights)) or \
                    int(_array(gan.d_optimizer.iterations)) != d_steps:
                raise Wrong("the discriminator's weights or optimizer changed",
                            "apply gradients to gan.generator.trainable_variables only, with gan.g_optimizer (G3, G5).")
            step = flat(gan.generator.trainable_variables) - g_before
            if not np.any(step):
                raise Wrong("the generator did not change", "take the gradient of G's loss with respect to "
                            "gan.generator.trainable_variables and apply it with gan.g_optimizer.")
            if int(_array(gan.g_optimizer.iterations)) != g_steps + 1:
                raise Wrong("G was not updated once by gan.g_optimizer",
                            "one apply_gradients call with gan.g_optimizer.")
            if np.array_equal(bn_before, flat(gan.generator.non_trainable_variables)):
                raise Wrong("G's BatchNorm statistics did not move: G ran in inference mode",
                            "call gan.generator(z, training=True) (and D with training=True), as in a train step.")
            lr = 0.1
            expected = -lr * ns
            cosine = float(step @ expected / (np.linalg.norm(step) * np.linalg.norm(expected) + 1e-12))
            if cosine < -0.9:
                raise Wrong("G moved against its gradient: the loss's sign is flipped",
                            "minimise mean(softplus(-fake_logits)); do not negate it.")
            if np.allclose(step, -lr * minimax, rtol=1e-2, atol=1e-7):
                raise Wrong("that is the minimax loss: where D confidently rejects the fakes its gradient is about "
                            f"{np.linalg.norm(minimax) / np.linalg.norm(ns):.0%} of the non-saturating loss's",
                            "use the non-saturating loss, mean(softplus(-fake_logits)) (G7).")
            if not np.allclose(step, expected, rtol=1e-2, atol=1e-6):
                raise Wrong(f"G's step differs from the gradient of the non-saturating loss (cosine {cosine:.2f})",
                            "the loss on D's logits for G's images, one gradient over G's variables, applied once.")
        return "G moved along the non-saturating gradient, in training mode, and D was held fixed."

    return _run("02.3", "update the generator", test, update_fn, _generator_update)


def _twin_gans(seed: int, batch: int):
    """Two identical small DCGANs (weights, noise generator, SGD optimizers) and a batch of real images."""
    made = []
    for _ in range(2):
        keras.utils.set_random_seed(seed)
        gan = dcgan.DCGAN(dcgan.build_generator((28, 28, 1), 16, width=8), dcgan.build_discriminator((28, 28, 1), 8),
                          seed=seed)
        gan.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05))
        made.append(gan)
    made[1].set_weights(made[0].get_weights())
    real = np.random.default_rng(seed).uniform(-1, 1, (batch, 28, 28, 1)).astype("float32")
    return made[0], made[1], real


def check_train_step(step_fn):
    """Exercise 02.4: ``step_fn(gan, real_images)`` is the DCGAN's whole train step: D once on real images and
    fresh fakes, then G once through D, each on its own variables (G3, G5, G6, G7). One step of it and one
    of the course's ``DCGAN.step``, from the same weights, noise and batch, must leave the same weights."""

    def test():
        for seed, batch in ((0, 8), (1, 6)) if strict() else ((0, 8),):
            mine, course_gan, real = _twin_gans(seed, batch)
            before_d = [_array(w) for w in mine.discriminator.trainable_variables]
            before_g = [_array(w) for w in mine.generator.trainable_variables]
            try:
                logs = backend.run_step(mine, lambda x: step_fn(mine, x), real)
            except ValueError as err:
                if "Unknown variable" in str(err):
                    raise Wrong("an optimizer was handed variables it does not own",
                                "gan.d_optimizer updates gan.discriminator.trainable_variables only, gan.g_optimizer "
                                "gan.generator.trainable_variables only (G3, G5; G8: not one update of both).") from None
                if "No gradients" in str(err):
                    raise Wrong("a loss carried no gradient to the variables it was to update (G's loss on the D "
                                "phase's fakes, under stop_gradient?)", "in G's phase make new fakes, "
                                "gan.generator(gan.noise(batch), training=True), and score them with D (G3).") from None
                raise
            backend.run_step(course_gan, course_gan.step, real)
            if not isinstance(logs, dict) or not {"d_loss", "g_loss"} <= set(logs):
                raise Wrong("the step does not return its logs", "end with return gan.track({...}) with d_loss, "
                            "g_loss, D(x) and D(G(z)): fit() shows them in the progress bar.")
            steps = (int(_array(mine.d_optimizer.iterations)), int(_array(mine.g_optimizer.iterations)))
            if steps != (1, 1):
                raise Wrong(f"D's optimizer ran {steps[0]} time(s) and G's {steps[1]}, expected once each",
                            "one update of D with gan.d_optimizer, then one of G with gan.g_optimizer (G8: not one "
                            "optimizer on a sum of both losses).")

            def close(a, b):
                return all(np.allclose(_array(x), _array(y), rtol=1e-4, atol=1e-6) for x, y in zip(a, b))
            d_same = close(mine.discriminator.weights, course_gan.discriminator.weights)
            g_same = close(mine.generator.weights, course_gan.generator.weights)
            if close(mine.discriminator.trainable_variables, before_d):
                raise Wrong("the discriminator did not change", "D's update: gradient of D's loss over "
                            "gan.discriminator.trainable_variables, applied with gan.d_optimizer.")
            if close(mine.generator.trainable_variables, before_g):
                raise Wrong("the generator did not change: its loss was taken on images that carry no gradient "
                            "back to G (the D phase's fakes, under stop_gradient?)",
                            "in G's phase make new fakes, gan.generator(gan.noise(batch), training=True), and score "
                            "them with D (G3).")
            if not d_same:
                raise Wrong("D's update differs from the course's step", "D's loss is gan.d_loss(real_logits, "
                            "fake_logits) on real images and fresh fakes (G6), both through D in training mode; "
                            "only D's variables, with gan.d_optimizer, and before G's update.")
            if not g_same:
                raise Wrong("G's update differs from the course's step", "after D's update: fresh noise, "
                            "gan.g_loss(D(G(z))) with both networks in training mode (G5, G7), a gradient over "
                            "gan.generator.trainable_variables only, applied with gan.g_optimizer.")
        return "one step of yours left the same weights as the course's DCGAN.step."

    return _run("02.4", "write the train step", test, step_fn, _course_train_step)


def _course_train_step(gan, real_images):
    """The course's version of exercise 02.4: ``DCGAN.step`` itself (not ``gan.step``, which a lesson's
    subclass may have replaced with this very function)."""
    return dcgan.DCGAN.step(gan, real_images)


# --------------------------------------------------------------------------- lesson 03


def check_reparameterize(sample_fn):
    """Exercise 03.1: ``sample_fn(mean, log_var, eps)`` returns ``mean + exp(log_var / 2) * eps`` (V1)."""

    def test():
        cases = [(np.array([[0.0, 1.0], [-2.0, 0.5]], "float32"),
                  np.array([[0.0, np.log(4.0)], [np.log(0.25), -1.0]], "float32"),
                  np.array([[1.0, -1.0], [0.5, 2.0]], "float32"))]
        if strict():
            rng = np.random.default_rng(6)
            cases.append(tuple(rng.normal(size=(5, 3)).astype("float32") for _ in range(3)))
        for mean, log_var, eps in cases:
            value = _array(sample_fn(mean, log_var, eps))
            expected = mean + np.exp(0.5 * log_var) * eps
            if value.shape != mean.shape:
                raise Wrong(f"got shape {value.shape}, expected {mean.shape}", "one sample per mean: same shape.")
            if np.allclose(value, mean):
                raise Wrong("the sample equals the mean",
                            "without noise the model is a plain autoencoder (V1): add exp(log_var / 2) * eps.")
            if np.allclose(value, mean + np.exp(log_var) * eps):
                raise Wrong("eps is scaled by the variance", "scale by the standard deviation, exp(log_var / 2).")
            if np.allclose(value, mean + log_var * eps):
                raise Wrong("eps is scaled by the log-variance", "the standard deviation is exp(log_var / 2).")
            if np.allclose(value, mean + np.exp(0.5 * log_var)):
                raise Wrong("eps is not used: the sample is mean + the standard deviation",
                            "multiply the standard deviation by eps: mean + exp(log_var / 2) * eps.")
            if not np.allclose(value, expected, atol=1e-5):
                if not np.allclose(_array(sample_fn(mean, log_var, eps)), value):
                    raise Wrong("two calls with the same eps gave different samples: the function draws noise of "
                                "its own", "use the eps it is given (the model draws it, so that the check and "
                                "the lesson can repeat a sample).")
                raise Wrong("the samples differ from mean + exp(log_var / 2) * eps", "check the formula term by term.")
        return "z = mean + exp(log_var / 2) * eps, so gradients reach mean and log_var."

    return _run("03.1", "sample a code", test, sample_fn, lambda m, lv, eps: m + ops.exp(0.5 * lv) * eps)


def check_kl(kl_fn):
    """Exercise 03.2: analytic ``KL(N(mean, exp(log_var)) || N(0, I))`` per image (V3)."""

    def test():
        cases = [(np.array([[0.0, 0.0, 0.0], [1.0, -0.5, 2.0]], "float32"),
                  np.array([[0.0, 0.0, 0.0], [0.3, -1.0, 0.5]], "float32"))]
        if strict():
            rng = np.random.default_rng(8)
            mean, log_var = rng.normal(size=(4, 5)).astype("float32"), rng.normal(size=(4, 5)).astype("float32") * 0.5
            mean[0], log_var[0] = 0.0, 0.0
            cases.append((mean, log_var))
        for mean, log_var in cases:
            n, d = mean.shape
            value = _array(kl_fn(mean, log_var)).reshape(-1)
            expected = _array(losses.gaussian_kl(mean, log_var))
            if value.shape != (n,):
                raise Wrong(f"got shape {value.shape}, expected one value per image, ({n},)",
                            "sum over the latent axis only (axis=1); keep the batch axis.")
            if abs(value[0]) > 1e-6:
                raise Wrong(f"KL is {value[0]:.4f} when q equals the prior", "it must be 0 for mean 0, log_var 0.")
            if np.allclose(value, -expected, atol=1e-5):
                raise Wrong("the KL is negative", "0.5 * sum(exp(log_var) + mean**2 - 1 - log_var): a divergence "
                            "is >= 0.")
            if np.allclose(value, 2 * expected, atol=1e-5):
                raise Wrong("twice the KL", "the factor 0.5 belongs in front of the sum.")
            if np.allclose(value, expected / d, atol=1e-5):
                raise Wrong("the KL is averaged over the latent dimensions", "sum over them: the KL of independent "
                            "dimensions adds up.")
            if not np.allclose(value, expected, atol=1e-5):
                raise Wrong(f"got {value}, expected {expected}", "0.5 * sum(exp(log_var) + mean**2 - 1 - log_var, "
                            "axis=1).")
        return "analytic KL per image, zero when q(z|x) is the prior."

    return _run("03.2", "the KL term", test, kl_fn, losses.gaussian_kl)


def check_vae_loss(loss_fn):
    """Exercise 03.3: ``loss_fn(x, logits, mean, log_var, beta)`` = batch mean of recon + beta * KL (V2, V5)."""

    def test():
        cases = [((4, 28, 28, 1), 3, 0.5, 0)] + ([((3, 14, 14, 1), 5, 2.0, 1)] if strict() else [])
        for shape, latent, beta, seed in cases:
            rng = np.random.default_rng(seed)
            x = (rng.random(shape) < 0.3).astype("float32")
            logits = rng.normal(size=shape).astype("float32")
            n, pixels = shape[0], int(np.prod(shape[1:]))
            mean = rng.normal(size=(n, latent)).astype("float32")
            log_var = rng.normal(size=(n, latent)).astype("float32") * 0.3
            total, recon, kl = (_scalar(t) for t in losses.negative_elbo(x, logits, mean, log_var, beta=beta))
            value = _scalar(loss_fn(x, logits, mean, log_var, beta))
            if abs(value - total) < 1e-2:
                continue
            if abs(value - (-recon - beta * kl)) < 1e-2:
                raise Wrong("the sign is flipped: this is the ELBO, which is maximised",
                            "the loss is -E[log p(x|z)] + beta * KL.")
            if abs(value - (recon / pixels + beta * kl)) < 1e-2:
                raise Wrong("the reconstruction term is averaged over pixels (V5)",
                            "sum it over pixels (per image), then average over the batch.")
            if abs(value - (recon + kl)) < 1e-2:
                raise Wrong("beta is ignored", "weigh the KL term: reconstruction + beta * KL.")
            if abs(value - n * total) < 1e-1:
                raise Wrong("summed over the batch", "average over the batch: nats per image.")
            if abs(value - recon) < 1e-2:
                raise Wrong("the KL term is missing", "add beta * KL: without it the model is an autoencoder.")
            raise Wrong(f"got {value:.3f}, expected {total:.3f}", "recon = -sum(x * logits - softplus(logits)) per "
                        "image; add beta * KL; take the mean over the batch.")
        return f"negative ELBO in nats per image ({value:.1f} on the last test case)."

    return _run("03.3", "the loss", test, loss_fn,
                lambda x, logits, mean, log_var, beta: losses.negative_elbo(x, logits, mean, log_var, beta)[0])


def _twin_vaes(seed: int, batch: int, compute_loss):
    """Two identical small VAEs, one whose ``compute_loss`` is ``compute_loss``, and a batch of images."""
    from .models import vae as vae_models

    class Learners(vae_models.VAE):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return compute_loss(self, x, y, y_pred, sample_weight, training)

    made = []
    for cls in (Learners, vae_models.VAE):
        keras.utils.set_random_seed(seed)
        model = cls(vae_models.build_encoder((28, 28, 1), 3), vae_models.build_decoder((28, 28, 1), 3), beta=0.5,
                    seed=seed)
        model.compile(optimizer=keras.optimizers.SGD(0.01))
        bias = model.decoder.get_layer("logits").bias  # confident pixels: what is scored then matters
        bias.assign(np.full(bias.shape, 2.0, "float32"))
        spread = model.encoder.get_layer("log_var").bias  # a KL term far from 0: beta's weight shows
        spread.assign(np.full(spread.shape, -1.5, "float32"))
        made.append(model)
    made[0].set_weights(made[1].get_weights())
    x = np.random.default_rng(seed).uniform(0, 1, (batch, 28, 28, 1)).astype("float32")
    return made[0], made[1], x


def check_compute_loss(compute_loss_fn):
    """Exercise 03.4: ``compute_loss_fn(vae, x, y, y_pred, sample_weight, training)`` is the VAE's
    ``compute_loss``: the negative ELBO of the forward pass ``y_pred`` (V2-V5). A ``fit`` step with it and
    one with the course's, from the same weights, noise and batch, must leave the same weights."""

    def test():
        for seed, batch in ((0, 8), (1, 5)) if strict() else ((0, 8),):
            mine, course_vae, x = _twin_vaes(seed, batch, compute_loss_fn)
            y_pred = _twin_vaes(seed, batch, compute_loss_fn)[0](x, training=True)  # a third twin: same noise
            value = _scalar(compute_loss_fn(mine, x, None, y_pred, None, True))
            expected = _scalar(course_vae.compute_loss(x, None, y_pred, training=True))
            near = lambda a, b: abs(a - b) <= 1e-5 * max(1.0, abs(b))  # noqa: E731
            if not near(value, expected):
                parts = (y_pred["logits"], y_pred["mean"], y_pred["log_var"])
                if near(value, _scalar(losses.negative_elbo(x, *parts, 0.5)[0])):
                    raise Wrong("the loss scores x, the images as given, not the binary images the model saw",
                                "use y_pred['target']: in training the VAE binarises each batch afresh (V6).")
                if near(value, _scalar(losses.negative_elbo(y_pred["target"], *parts, 1.0)[0])):
                    raise Wrong("beta is ignored (this VAE has beta = 0.5)", "weigh the KL by vae.beta.")
                raise Wrong(f"on one forward pass your loss is {value:.3f}, the negative ELBO is {expected:.3f}",
                            "-E[log p(x|z)] + beta * KL from y_pred['target'], y_pred['logits'], y_pred['mean'] "
                            "and y_pred['log_var']: summed over pixels, averaged over the batch, beta = vae.beta.")
            mine.fit(x, epochs=1, batch_size=batch, verbose=0, shuffle=False)
            course_vae.fit(x, epochs=1, batch_size=batch, verbose=0, shuffle=False)
            if not all(np.allclose(_array(a), _array(b), rtol=1e-4, atol=1e-6)
                       for a, b in zip(mine.weights, course_vae.weights)):
                raise Wrong("a training step with your loss moves the weights differently from the course's",
                            "return the loss itself (divided by backend.replicas()), computed from y_pred only.")
        return "fit() with your compute_loss took the course's step."

    return _run("03.4", "the VAE's compute_loss", test, compute_loss_fn, _course_compute_loss)


def _course_compute_loss(vae, x=None, y=None, y_pred=None, sample_weight=None, training=True):
    """The course's version of exercise 03.4: ``VAE.compute_loss``."""
    from .models import vae as vae_models

    return vae_models.VAE.compute_loss(vae, x, y, y_pred, sample_weight, training)


# --------------------------------------------------------------------------- lesson 04


def check_cycle_loss(cycle_fn):
    """Exercise 04.1: ``cycle_fn(real_a, cycled_a, real_b, cycled_b)`` = ``E|F(G(a)) - a| + E|G(F(b)) - b|`` (Y2)."""

    def test():
        rng = np.random.default_rng(0)
        a = rng.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
        b = rng.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
        if abs(_scalar(cycle_fn(a, a, b, b))) > 1e-6:
            raise Wrong("perfect round trips (F(G(a)) = a, G(F(b)) = b) give a non-zero loss",
                        "compare each image with its own round trip: |cycled_a - real_a| and |cycled_b - real_b|.")
        got = _scalar(cycle_fn(a, a + 0.5, b, b - 0.25))
        for wrong, message, hint in ((0.375, "the two directions are averaged, not summed",
                                      "the cycle loss is the sum of two mean absolute errors, one per domain."),
                                     (0.3125, "that is a squared error", "L1, not L2: ops.mean(ops.abs(...))."),
                                     (0.5, "only the A -> B -> A round trip counts", "add the B -> A -> B term."),
                                     (0.25, "only the B -> A -> B round trip counts", "add the A -> B -> A term.")):
            if abs(got - wrong) < 1e-5:
                raise Wrong(f"got {got:.4f}: {message}", hint)
        if abs(got - 7.5) < 1e-4:
            raise Wrong(f"got {got:.4f}: the loss is already multiplied by lambda = 10",
                        "return the unweighted sum: the model multiplies it by lambda.")
        if abs(got - 0.75) > 1e-5:
            raise Wrong(f"errors of 0.5 on A and 0.25 on B gave {got:.4f}, expected 0.75",
                        "ops.mean(ops.abs(cycled_a - real_a)) + ops.mean(ops.abs(cycled_b - real_b)).")
        if strict():
            a = rng.uniform(-1, 1, (3, 5, 5, 1)).astype("float32")
            b = rng.uniform(-1, 1, (3, 6, 6, 2)).astype("float32")
            ca = (a + rng.normal(0, 0.3, a.shape)).astype("float32")
            cb = (b + rng.normal(0, 0.6, b.shape)).astype("float32")
            want = float(np.mean(np.abs(ca - a)) + np.mean(np.abs(cb - b)))
            if abs(_scalar(cycle_fn(a, ca, b, cb)) - want) > 1e-5:
                raise Wrong("wrong on random round trips of other shapes",
                            "ops.mean(ops.abs(cycled_a - real_a)) + ops.mean(ops.abs(cycled_b - real_b)).")
        return "zero for perfect round trips; mean |error| per domain, summed over both domains."

    return _run("04.1", "the cycle-consistency loss", test, cycle_fn, losses.cycle_consistency_loss)


def check_lsgan_losses(d_loss_fn, g_loss_fn):
    """Exercise 04.2: least-squares losses on D's raw scores (no sigmoid). Returns ``(d_loss, g_loss)``."""

    def test():
        real = np.array([[1.0, 0.0]], "float32")
        fake = np.array([[0.0, 2.0]], "float32")
        d = _scalar(d_loss_fn(real, fake))
        if abs(d - 1.25) > 1e-5:
            hint = ("real scores are pulled to 1 and fake scores to 0: 0.5 * (mean((real - 1)^2) + mean(fake^2)).")
            if abs(d - 2.5) < 1e-5:
                hint = ("CycleGAN writes D's loss with a factor 0.5: 0.5 * (...). (With Adam a constant factor on a "
                        "loss changes the logged value, not the updates; the check asks for the formula.)")
            elif abs(d - 0.5 * (np.mean((1 / (1 + np.exp(-real)) - 1) ** 2) + np.mean((1 / (1 + np.exp(-fake))) ** 2))) < 1e-5:
                hint = "LSGAN squares D's raw scores: no sigmoid."
            raise Wrong(f"D's loss on real scores [1, 0] and fake scores [0, 2] is {d:.4f}, expected 1.25", hint)
        g = _scalar(g_loss_fn(fake))
        if abs(g - 1.0) > 1e-5:
            hint = "G wants D to score its images as real: mean((fake - 1)^2)."
            if abs(g - 2.0) < 1e-5:
                hint = "G's target is 1 (real), not 0: mean((fake - 1)^2)."
            raise Wrong(f"G's loss on fake scores [0, 2] is {g:.4f}, expected 1.0", hint)
        if abs(_scalar(g_loss_fn(np.ones((2, 7, 7, 1), "float32")))) > 1e-6:
            raise Wrong("G's loss is not zero when D scores every patch as real", "mean((fake - 1)^2) is 0 at fake = 1.")
        if strict():
            rng = np.random.default_rng(9)
            real = rng.normal(0.5, 1, (3, 4, 4, 1)).astype("float32")
            fake = rng.normal(0, 1, (3, 4, 4, 1)).astype("float32")
            if abs(_scalar(d_loss_fn(real, fake)) - _scalar(losses.lsgan_discriminator_loss(real, fake))) > 1e-5 or \
                    abs(_scalar(g_loss_fn(fake)) - _scalar(losses.lsgan_generator_loss(fake))) > 1e-5:
                raise Wrong("wrong on random patch scores of another shape",
                            "average over every patch of every image: ops.mean over all axes.")
        return "D: 0.5 * (E(D(real) - 1)^2 + E D(fake)^2); G: E(D(fake) - 1)^2."

    answer = _run("04.2", "least-squares GAN losses", test, (d_loss_fn, g_loss_fn),
                  (losses.lsgan_discriminator_loss, losses.lsgan_generator_loss))
    return answer


def _instance_normalise(x, epsilon: float = 1e-5):
    mean = ops.mean(x, axis=(1, 2), keepdims=True)
    return (x - mean) / ops.sqrt(ops.var(x, axis=(1, 2), keepdims=True) + epsilon)


def check_instance_norm(norm_fn):
    """Exercise 04.3: ``norm_fn(x)`` normalises each image's each channel over height and width, as
    ``layers.GroupNormalization(groups=-1)`` does before its learned scale and shift."""

    def test():
        rng = np.random.default_rng(0)
        x = (rng.normal(size=(3, 5, 5, 2)) * rng.uniform(1, 5, (3, 1, 1, 2))
             + rng.uniform(-3, 3, (3, 1, 1, 2))).astype("float32")
        x[2, :, :, 1] = 7.0  # a flat channel: only epsilon keeps it finite
        if strict():
            x = np.concatenate([x, rng.normal(2.0, 3.0, (1, 5, 5, 2)).astype("float32")])
            x = np.concatenate([x, x[..., :1] * 2 + 1], axis=-1)  # (4, 5, 5, 3)
        y = _array(norm_fn(x))
        layer = layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False)
        expected = _array(layer(x))
        if y.shape != x.shape:
            raise Wrong(f"output shape {y.shape}, expected {x.shape}", "normalise, do not reduce: keep every axis.")
        if not np.all(np.isfinite(y)):
            raise Wrong("a channel with one value everywhere gives inf or nan",
                        "add epsilon (1e-5) to the variance before the square root.")
        if np.allclose(y, expected, atol=1e-3):
            if not np.allclose(_array(norm_fn(x[:1])), y[:1], atol=1e-4):
                raise Wrong("an image's result depends on the other images in the batch", "reduce over axis=(1, 2) only.")
            return "the same as layers.GroupNormalization(groups=-1) without its scale and shift."
        per = lambda axes: ((x - x.mean(axes, keepdims=True))  # noqa: E731
                            / np.sqrt(x.var(axes, keepdims=True) + 1e-5))
        if np.allclose(y, per((0, 1, 2)), atol=1e-3):
            raise Wrong("the statistics are over the whole batch: that is BatchNorm", "use axis=(1, 2).")
        if np.allclose(y, per((1, 2, 3)), atol=1e-3):
            raise Wrong("the statistics mix the channels: that is LayerNorm", "one mean and variance per channel: "
                        "axis=(1, 2).")
        centred = x - x.mean((1, 2), keepdims=True)
        if np.allclose(y, centred / (x.var((1, 2), keepdims=True) + 1e-5), atol=1e-3):
            raise Wrong("divided by the variance", "divide by the standard deviation: sqrt(variance + epsilon).")
        raise Wrong("each image's channels do not come out with mean 0 and standard deviation 1",
                    "subtract the mean over axis=(1, 2) and divide by sqrt(variance over axis=(1, 2) + 1e-5).")

    return _run("04.3", "instance normalisation by hand", test, norm_fn, _instance_normalise)


# --------------------------------------------------------------------------- lesson 05


def _pairwise(features) -> np.ndarray:
    """Euclidean distances between the rows of ``features``."""
    x = np.asarray(features, dtype=np.float64)
    return np.sqrt(np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1))


def check_knn_radii(radii_fn):
    """Exercise 05.1: ``radii_fn(features, k)``: each point's distance to its k-th nearest *other* point."""

    def test():
        cases = [(np.array([[0.0], [1.0], [3.0], [7.0]]), 1), (np.array([[0.0], [1.0], [3.0], [7.0]]), 2),
                 (np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0], [-2.0, 5.0], [6.0, -1.0]]), 2)]
        if strict():
            cases.append((np.random.default_rng(2).normal(size=(30, 5)), 3))
        for features, k in cases:
            got = _array(radii_fn(features, k)).reshape(-1)
            want = metrics.knn_radii(features, k)
            if got.shape != want.shape:
                raise Wrong(f"{got.size} radii for {len(features)} points", "one radius per point (row).")
            if k > 1 and np.allclose(got, metrics.knn_radii(features, k - 1)):
                raise Wrong("each radius reaches the (k-1)-th neighbour: the point itself was counted",
                            "a point is its own nearest neighbour at distance 0; skip it (set the diagonal to inf).")
            if k == 1 and np.allclose(got, 0):
                raise Wrong("every radius is 0: the point itself was counted as its nearest neighbour",
                            "skip each point itself (set the diagonal of the distance matrix to inf).")
            if np.allclose(got, want ** 2, atol=1e-6) and not np.allclose(want, want ** 2):
                raise Wrong("the radii are squared distances", "take the square root: Euclidean distances.")
            farthest = np.sort(_pairwise(features), axis=1)[:, -k]
            if np.allclose(got, farthest, atol=1e-6) and not np.allclose(want, farthest, atol=1e-6):
                raise Wrong("each radius reaches the k-th *farthest* point", "sort the distances in increasing order.")
            if not np.allclose(got, want, atol=1e-6):
                raise Wrong(f"radii {np.round(got[:4], 3)} where {np.round(want[:4], 3)} were expected",
                            "pairwise Euclidean distances between rows, then the k-th smallest per row.")
        return "the distance to the k-th nearest other point."

    return _run("05.1", "k-nearest-neighbour radii", test, radii_fn, metrics.knn_radii)


def check_roc_auc(auc_fn):
    """Exercise 05.2: ``auc_fn(scores, labels)``: the area under the ROC curve (label 1 = generated)."""

    def test():
        rng = np.random.default_rng(4)
        cases = [(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])),
                 (rng.normal(size=60).round(1), (rng.uniform(size=60) < 0.4).astype(int))]
        if strict():
            cases.append((rng.integers(0, 5, 35) / 4.0, (rng.uniform(size=35) < 0.6).astype(np.int64)))
        for scores, labels in cases:
            got, want = _scalar(auc_fn(scores, labels)), metrics.roc_auc(scores, labels)
            if abs(got - (1 - want)) < 1e-9 and abs(got - want) > 1e-9:
                raise Wrong(f"AUC {got:.3f} is 1 - the right one: the labels are the wrong way round",
                            "label 1 (generated) should score high: count pairs where a 1 outranks a 0.")
            if abs(got - float(np.mean((scores > 0.5) == labels))) < 1e-9 and abs(got - want) > 1e-9:
                raise Wrong("this is the accuracy at threshold 0.5, not the area under the ROC curve",
                            "the AUC looks at every threshold: the chance a random 1 scores above a random 0.")
            generated, real = scores[labels == 1], scores[labels == 0]
            ties = float(np.mean(generated[:, None] == real[None, :]))
            if ties and min(abs(got - (want - ties / 2)), abs(got - (want + ties / 2))) < 1e-9:
                raise Wrong(f"AUC {got:.4f}, expected {want:.4f}: ties are not counted as one half",
                            "a (generated, real) pair with equal scores counts 1/2: neither outranks the other.")
            if abs(got - want) > 1e-6:
                raise Wrong(f"AUC {got:.4f}, expected {want:.4f}",
                            "compare every (generated, real) pair: 1 when the generated one scores higher, 1/2 for "
                            "a tie; average.")
        return "the chance that a random generated image outscores a random real one."

    return _run("05.2", "area under the ROC curve", test, auc_fn, metrics.roc_auc)


# --------------------------------------------------------------------------- lesson 06


def _diffusion_schedule(timesteps: int = 100, kind: str = "linear"):
    from .models.diffusion import Schedule

    return Schedule(kind, timesteps).arrays()


def _diffusion_case(seed: int, shape=(4, 6, 6, 1), timesteps: int = 100, t=None):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1.0, 1.0, shape).astype("float32")
    noise = rng.standard_normal(shape).astype("float32")
    t = np.asarray(t if t is not None else rng.choice(np.arange(1, timesteps - 1), shape[0], replace=False), "int32")
    return x0, noise, t


def _per_image(values, t):
    return np.asarray(values, np.float64)[np.asarray(t)].reshape(-1, 1, 1, 1)


def check_q_sample(q_sample_fn):
    """Exercise 06.1: ``q_sample_fn(x0, t, noise, alpha_bars)`` = ``sqrt(a_t) x0 + sqrt(1 - a_t) noise``, each
    image at its own ``t``, with ``a_t = alpha_bars[t]`` (D1)."""

    def test():
        from .models.diffusion import q_sample

        cases = [(0, (4, 6, 6, 1), 100, [0, 7, 42, 99])]
        if strict():
            cases += [(1, (5, 4, 4, 3), 60, None), (2, (3, 8, 8, 1), 1000, [999, 0, 500])]
        for seed, shape, timesteps, t in cases:
            s = _diffusion_schedule(timesteps)
            x0, noise, t = _diffusion_case(seed, shape, timesteps, t)
            got = _array(q_sample_fn(x0.copy(), t.copy(), noise.copy(), s["alpha_bars"].copy()))
            want = _array(q_sample(x0, t, noise, s["alpha_bars"]))
            if got.shape != want.shape:
                raise Wrong(f"got shape {got.shape}, expected {want.shape}",
                            "pick alpha_bars[t] per image and reshape it to (batch, 1, 1, 1) so that it broadcasts "
                            "over each image's pixels.")
            if np.allclose(got, want, atol=1e-5):
                continue

            def form(index, signal, noise_coef):
                a = _per_image(s["alpha_bars"], np.clip(index, 0, timesteps - 1))
                return signal(a) * x0 + noise_coef(a) * noise

            sqrt_a, sqrt_1ma = np.sqrt, (lambda a: np.sqrt(1 - a))
            if any(np.allclose(got, form(t + k, sqrt_a, sqrt_1ma), atol=1e-5) for k in (-1, 1)):
                raise Wrong("alpha_bar is read one timestep off (D1)", "x_t uses alpha_bars[t] for the same t: the "
                            "arrays are indexed from t = 0, the first noised image.")
            if np.allclose(got, form(t, lambda a: a, lambda a: 1 - a), atol=1e-5):
                raise Wrong("the coefficients are alpha_bar and 1 - alpha_bar, without square roots",
                            "those are the *variances*: scale x0 by sqrt(alpha_bar) and the noise by "
                            "sqrt(1 - alpha_bar).")
            if np.allclose(got, form(t, sqrt_a, lambda a: 1 - a), atol=1e-5):
                raise Wrong("the noise is scaled by 1 - alpha_bar, its variance", "scale it by sqrt(1 - alpha_bar).")
            if np.allclose(got, form(t, sqrt_1ma, sqrt_a), atol=1e-5):
                raise Wrong("signal and noise swapped their coefficients", "x0 keeps sqrt(alpha_bar), which starts "
                            "near 1: at t = 0 the image is almost clean.")
            if np.allclose(got, form(np.full_like(t, t[0]), sqrt_a, sqrt_1ma), atol=1e-5):
                raise Wrong("every image got the first image's timestep", "index alpha_bars with the whole vector t.")
            raise Wrong("x_t differs from sqrt(alpha_bars[t]) * x0 + sqrt(1 - alpha_bars[t]) * noise",
                        "one alpha_bar per image, broadcast over its pixels; use the noise you are given.")
        return "x_t in closed form: one jump from x_0 to any t."

    from .models.diffusion import q_sample

    return _run("06.1", "sample q(x_t | x_0)", test, q_sample_fn,
                lambda x0, t, noise, alpha_bars: q_sample(x0, t, noise, alpha_bars))


def _fake_noise_predictor(x_t, t):
    """A stand-in network for the checks: depends on the image and on t, so that mistakes show."""
    t = np.asarray(ops.convert_to_numpy(t), "float32").reshape(-1, 1, 1, 1)
    return 0.5 * np.asarray(ops.convert_to_numpy(x_t), "float32") + 0.01 * t - 0.3


def check_diffusion_loss(loss_fn):
    """Exercise 06.2: ``loss_fn(x0, t, noise, predict, alpha_bars)`` = ``mean((noise - predict(x_t, t))^2)``
    (D1, D3)."""

    def test():
        from .models.diffusion import q_sample

        cases = [(3, (4, 6, 6, 1), 100)] + ([(4, (6, 5, 5, 2), 300)] if strict() else [])
        for seed, shape, timesteps in cases:
            s = _diffusion_schedule(timesteps)
            x0, noise, t = _diffusion_case(seed, shape, timesteps)
            calls = []

            def predict(x_t, t_seen):
                calls.append(np.asarray(ops.convert_to_numpy(t_seen)).reshape(-1))
                return _fake_noise_predictor(x_t, t_seen)

            value = _scalar(loss_fn(x0.copy(), t.copy(), noise.copy(), predict, s["alpha_bars"].copy()))
            x_t = _array(q_sample(x0, t, noise, s["alpha_bars"]))
            pred = _fake_noise_predictor(x_t, t)
            want = float(np.mean((noise - pred) ** 2))
            if abs(value - want) < 1e-4 * max(1.0, want):
                continue
            if not calls:
                raise Wrong("the network (predict) is never called", "predict(x_t, t) is the model's guess of the "
                            "noise: compare it with the noise.")
            if abs(value - float(np.mean((x0 - pred) ** 2))) < 1e-4:
                raise Wrong("the target is the clean image x0 (D3)", "the network predicts the noise that was "
                            "added: the loss compares predict(x_t, t) with noise.")
            if abs(value - float(np.mean((noise - _fake_noise_predictor(x0, t)) ** 2))) < 1e-4:
                raise Wrong("the network is shown the clean image x0", "show it the noisy x_t = q_sample(x0, t, "
                            "noise): it has to find the noise in it.")
            if any(np.array_equal(calls[-1], t + k) for k in (-1, 1)):
                raise Wrong("the network is told a timestep one off from the one x_t was made with (D1)",
                            "the same t makes x_t and goes to the network.")
            for k in (-1, 1):
                x_off = _array(q_sample(x0, np.clip(t + k, 0, timesteps - 1), noise, s["alpha_bars"]))
                if abs(value - float(np.mean((noise - _fake_noise_predictor(x_off, t)) ** 2))) < 1e-4:
                    raise Wrong("x_t is made with alpha_bar one timestep off (D1)", "use alpha_bars[t].")
            pixels = int(np.prod(shape[1:]))
            if abs(value - want * pixels) < 1e-3 * want * pixels:
                raise Wrong("summed over the pixels", "take the mean over images and pixels (the simple loss).")
            if abs(value - np.sqrt(want)) < 1e-4:
                raise Wrong("the square root of the mean squared error", "the loss is the mean squared error.")
            raise Wrong(f"got {value:.5f}, expected {want:.5f}", "x_t = q_sample(x0, t, noise, alpha_bars); "
                        "return mean((noise - predict(x_t, t))**2).")
        return "the noise-prediction loss: mean squared error between the noise and its prediction."

    from .models.diffusion import noise_prediction_loss, q_sample

    return _run("06.2", "the training loss", test, loss_fn,
                lambda x0, t, noise, predict, alpha_bars: noise_prediction_loss(
                    noise, predict(q_sample(x0, t, noise, alpha_bars), t)))


def check_ddpm_step(step_fn):
    """Exercise 06.3: one ancestral step ``step_fn(x_t, t, eps, z, betas, alpha_bars, posterior_variance)`` from
    predicted noise (D1, D3)."""

    def test():
        from .models.diffusion import ddpm_step

        cases = [(5, (4, 6, 6, 1), 100, [50, 50, 50, 50]), (6, (3, 6, 6, 1), 100, [0, 0, 0])]
        if strict():
            cases += [(7, (5, 4, 4, 3), 200, [199, 1, 77, 0, 13])]
        for seed, shape, timesteps, t in cases:
            s = _diffusion_schedule(timesteps)
            rng = np.random.default_rng(seed)
            x_t, eps, z = (rng.standard_normal(shape).astype("float32") for _ in range(3))
            t = np.asarray(t, "int32")
            got = _array(step_fn(x_t.copy(), t.copy(), eps.copy(), z.copy(), s["betas"].copy(),
                                 s["alpha_bars"].copy(), s["posterior_variance"].copy()))
            want = _array(ddpm_step(x_t, t, eps, z, s["betas"], s["alpha_bars"], s["posterior_variance"]))
            if got.shape != want.shape:
                raise Wrong(f"got shape {got.shape}, expected {want.shape}", "one new image per image.")
            if np.allclose(got, want, atol=1e-4):
                continue

            def mean_at(index, sign=-1.0):
                index = np.clip(index, 0, timesteps - 1)
                beta, a = _per_image(s["betas"], index), _per_image(s["alpha_bars"], index)
                return (x_t + sign * beta / np.sqrt(1 - a) * eps) / np.sqrt(1 - beta)

            sigma = np.sqrt(_per_image(s["posterior_variance"], t))
            if np.allclose(got, mean_at(t), atol=1e-4) and not np.allclose(sigma, 0):
                raise Wrong("no noise is added", "add sqrt(posterior_variance[t]) * z: without it the ancestral "
                            "sampler's images come out smooth and alike.")
            if np.allclose(got, mean_at(t) + np.sqrt(_per_image(s["betas"], t)) * z, atol=1e-4):
                raise Wrong("the noise has variance beta_t, so the last step (t = 0) still adds noise",
                            "use sigma_t^2 = posterior_variance[t], which is 0 at t = 0.")
            if np.allclose(got, mean_at(t, +1.0) + sigma * z, atol=1e-4):
                raise Wrong("the predicted noise is added instead of removed", "x_t - beta_t / sqrt(1 - alpha_bar_t) "
                            "* eps.")
            if any(np.allclose(got, mean_at(t + k) + np.sqrt(_per_image(s["posterior_variance"],
                                                                         np.clip(t + k, 0, timesteps - 1))) * z,
                               atol=1e-4) for k in (-1, 1)):
                raise Wrong("the schedule is read one timestep off (D1)", "every array is indexed with the same t.")
            a, a_prev = _per_image(s["alpha_bars"], t), _per_image(s["alpha_bars_prev"], t)
            beta = _per_image(s["betas"], t)
            as_x0 = (np.sqrt(a_prev) * beta / (1 - a)) * eps + (np.sqrt(1 - beta) * (1 - a_prev) / (1 - a)) * x_t
            if np.allclose(got, as_x0 + sigma * z, atol=1e-4):
                raise Wrong("eps is used as if it were the clean image x0 (D3)", "the network predicts the noise: "
                            "the mean is (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_t).")
            if np.allclose(got, x_t - beta / np.sqrt(1 - a) * eps + sigma * z, atol=1e-4):
                raise Wrong("the division by sqrt(alpha_t) = sqrt(1 - beta_t) is missing",
                            "divide the denoised image by sqrt(1 - beta_t).")
            raise Wrong("x_{t-1} differs from (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) / sqrt(1 - beta_t) + "
                        "sqrt(posterior_variance[t]) * z", "check the formula term by term, one value per image.")
        return "one ancestral step: remove the predicted noise, rescale, add fresh noise (none at t = 0)."

    from .models.diffusion import ddpm_step

    return _run("06.3", "one reverse step", test, step_fn, ddpm_step)


def check_guidance(guide_fn):
    """Exercise 06.4: ``guide_fn(eps_cond, eps_uncond, w)`` = ``eps_uncond + w * (eps_cond - eps_uncond)`` (D5)."""

    def test():
        from .models.diffusion import guided_noise

        rng = np.random.default_rng(9)
        eps_c, eps_u = rng.standard_normal((2, 3, 4, 4, 1)).astype("float32")
        for w in (3.0, 0.0, 1.0) + ((7.5, 0.5) if strict() else ()):
            got = _array(guide_fn(eps_c.copy(), eps_u.copy(), w))
            want = _array(guided_noise(eps_c, eps_u, w))
            if got.shape != want.shape:
                raise Wrong(f"got shape {got.shape}, expected {want.shape}", "one guided noise per image.")
            if np.allclose(got, want, atol=1e-5):
                continue
            if np.allclose(got, eps_c + w * (eps_u - eps_c), atol=1e-5):
                raise Wrong("the guidance starts from the conditional prediction and moves towards the "
                            "unconditional one (D5)", "start from eps_uncond and move towards eps_cond: "
                            "eps_uncond + w * (eps_cond - eps_uncond).")
            if np.allclose(got, eps_u - w * (eps_c - eps_u), atol=1e-5):
                raise Wrong("the weight's sign is flipped: the samples are pushed away from the class (D5)",
                            "eps_uncond + w * (eps_cond - eps_uncond).")
            if np.allclose(got, eps_c + w * (eps_c - eps_u), atol=1e-5):
                raise Wrong("this is the (1 + w) convention: w = 0 gives the conditional model",
                            "here w = 1 is the conditional model and w = 0 the unconditional one: "
                            "eps_uncond + w * (eps_cond - eps_uncond).")
            if np.allclose(got, w * eps_c, atol=1e-5):
                raise Wrong("the unconditional prediction is not used", "guidance mixes both predictions.")
            raise Wrong(f"with w = {w} the result differs from eps_uncond + w * (eps_cond - eps_uncond)",
                        "check the formula term by term.")
        return "classifier-free guidance: w = 0 unconditional, 1 conditional, above 1 more of the class."

    from .models.diffusion import guided_noise

    return _run("06.4", "the guidance mix", test, guide_fn, guided_noise)
