"""Lesson 00: the classical models the course grows from, done right (errata F1-F4).

* Linear regression **with an intercept**: the least-squares solution by the normal equations
  on ``[1, x]``, and the same solution by gradient descent on the mean squared error (F1).
* Logistic regression: a sigmoid model fitted by **cross-entropy from logits** to labels in
  {0, 1}, with the gradient ``X^T (sigmoid(Xw + b) - y) / n`` checked against automatic
  differentiation (F2).
* PCA fitted on flattened training images and applied to test images **flattened the same
  way**; a linear autoencoder learns the same subspace (F3).
* Label propagation for **classification**: the unlabelled points marked ``-1`` (F4).

Written with NumPy, ``keras.ops`` and scikit-learn; the gradients come from the backend in use.
Taught in 00_foundations.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from . import backend
from .errors import CourseError, ShapeError

# --------------------------------------------------------------------------- F1: linear regression


def _as_matrix(x, name: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype="float64")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ShapeError(f"{name} must be (examples, features), got shape {x.shape}.")
    return x


def with_intercept(x) -> np.ndarray:
    """``x`` with a first column of ones: the design matrix whose first weight is the intercept."""
    x = _as_matrix(x)
    return np.concatenate([np.ones((len(x), 1)), x], axis=1)


def linear_regression(x, y) -> tuple[np.ndarray, float]:
    """``(w, b)`` minimising ``mean((x @ w + b - y)^2)``: the normal equations on ``[1, x]``.

    Intercept and slopes are solved **together**. Fitting the slopes without an intercept column
    and then setting ``b`` to the mean residual (F1) is not the least-squares solution: the
    slopes were fitted through the origin.
    """
    design = with_intercept(x)
    y = np.asarray(y, dtype="float64").reshape(-1)
    if len(y) != len(design):
        raise ShapeError(f"x has {len(design)} examples but y has {len(y)}.")
    theta = np.linalg.solve(design.T @ design, design.T @ y)
    return theta[1:], float(theta[0])


def fit_by_gradient_descent(loss_fn, variables: list, steps: int = 500, learning_rate: float = 0.1) -> list[float]:
    """Plain gradient descent: ``v -= learning_rate * dloss/dv`` for each variable, ``steps`` times.
    ``loss_fn()`` reads the ``keras.Variable`` s in ``variables``. Returns the loss at each step."""
    history = []
    for _ in range(steps):
        loss, grads = backend.value_and_grad(loss_fn, variables)
        for v, g in zip(variables, grads):
            v.assign(v - learning_rate * g)
        history.append(float(ops.convert_to_numpy(loss)))
    return history


def linear_regression_gd(x, y, steps: int = 500, learning_rate: float = 0.1) -> tuple[np.ndarray, float]:
    """``(w, b)`` by gradient descent on the mean squared error, intercept included (standardise
    ``x`` first for a fast descent)."""
    x = _as_matrix(x).astype("float32")
    y = np.asarray(y, dtype="float32").reshape(-1, 1)
    w = keras.Variable(np.zeros((x.shape[1], 1), "float32"), name="w")
    b = keras.Variable(np.zeros((1,), "float32"), name="b")
    fit_by_gradient_descent(lambda: ops.mean(ops.square(ops.matmul(x, w) + b - y)), [w, b], steps, learning_rate)
    return ops.convert_to_numpy(w)[:, 0].astype("float64"), float(ops.convert_to_numpy(b)[0])


# --------------------------------------------------------------------------- F2: logistic regression


def check_binary_labels(y) -> np.ndarray:
    """``y`` as a float column of 0s and 1s; anything else is refused (cross-entropy needs {0, 1})."""
    y = np.asarray(y)
    values = np.unique(y)
    if not np.all(np.isin(values, [0, 1])):
        raise CourseError(f"logistic regression needs labels in {{0, 1}}, got values {values[:6].tolist()}"
                          f"{'...' if len(values) > 6 else ''}; map the two classes to 0 and 1 first.")
    return y.astype("float32").reshape(-1, 1)


def logistic_loss(w, b, x, y):
    """Mean binary cross-entropy of ``sigmoid(x @ w + b)`` against labels ``y`` in {0, 1}, computed
    from the logits (stable for large ones). ``w`` is ``(features, 1)``, ``y`` ``(n, 1)``."""
    logits = ops.matmul(x, w) + b
    return ops.mean(ops.binary_crossentropy(y, logits, from_logits=True))


def logistic_gradient(w, b, x, y) -> tuple[np.ndarray, np.ndarray]:
    """The analytic gradient of :func:`logistic_loss`: ``(X^T (p - y) / n, mean(p - y))`` with
    ``p = sigmoid(Xw + b)``. The sigmoid's derivative cancels against the cross-entropy's; with
    the mean squared error it would not (F2). Shapes stay ``(n, 1)``: no (n, 1) - (n,) broadcast."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64").reshape(-1, 1)
    p = 1.0 / (1.0 + np.exp(-(x @ np.asarray(w, dtype="float64") + np.asarray(b, dtype="float64"))))
    return x.T @ (p - y) / len(x), np.mean(p - y, axis=0)


def logistic_regression(x, y, steps: int = 500, learning_rate: float = 0.5) -> tuple[np.ndarray, float]:
    """``(w, b)`` of a logistic regression fitted by gradient descent on the cross-entropy."""
    x = _as_matrix(x).astype("float32")
    y = check_binary_labels(y)
    if len(y) != len(x):
        raise ShapeError(f"x has {len(x)} examples but y has {len(y)}.")
    w = keras.Variable(np.zeros((x.shape[1], 1), "float32"), name="w")
    b = keras.Variable(np.zeros((1,), "float32"), name="b")
    fit_by_gradient_descent(lambda: logistic_loss(w, b, x, y), [w, b], steps, learning_rate)
    return ops.convert_to_numpy(w)[:, 0].astype("float64"), float(ops.convert_to_numpy(b)[0])


# --------------------------------------------------------------------------- F3: PCA


def flatten_images(images, image_shape=None) -> np.ndarray:
    """Images ``(N, H, W[, C])`` as rows ``(N, H*W*C)`` of floats in [0, 1]; with ``image_shape``
    (what PCA was fitted on), images of another shape are refused, naming both (F3)."""
    images = np.asarray(images)
    if images.ndim < 3:
        raise ShapeError(f"expected a batch of images (N, height, width[, channels]), got shape {images.shape}.")
    if image_shape is not None and tuple(images.shape[1:]) != tuple(image_shape):
        raise ShapeError(f"these images are {tuple(images.shape[1:])} but PCA was fitted on {tuple(image_shape)}; "
                         "transform images of the shape it was fitted on, flattened the same way.")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    return images.reshape(len(images), -1).astype("float32") / scale


class ImagePCA:
    """scikit-learn's PCA on flattened images, remembering the image shape it was fitted on."""

    def __init__(self, components: int):
        from sklearn.decomposition import PCA

        self.pca = PCA(n_components=components, svd_solver="randomized", random_state=0)
        self.image_shape = None

    def fit(self, images) -> ImagePCA:
        self.image_shape = tuple(np.asarray(images).shape[1:])
        self.pca.fit(flatten_images(images))
        return self

    def transform(self, images) -> np.ndarray:
        """Codes ``(N, components)`` of images of the fitted shape."""
        return self.pca.transform(flatten_images(images, self.image_shape))

    def reconstruct(self, images, components: int | None = None) -> np.ndarray:
        """Images rebuilt from their first ``components`` codes (all by default), in the input's shape."""
        codes = self.transform(images)
        k = codes.shape[1] if components is None else components
        rows = codes[:, :k] @ self.pca.components_[:k] + self.pca.mean_
        return rows.reshape((len(rows), *self.image_shape))

    @property
    def explained_variance_ratio(self) -> np.ndarray:
        return self.pca.explained_variance_ratio_

    @property
    def components(self) -> np.ndarray:
        """The principal directions, one per row ``(components, pixels)``."""
        return self.pca.components_


def linear_autoencoder(pixels: int, code: int, seed: int = 0) -> keras.Model:
    """``x -> W2 (W1 x + b1) + b2``: no activation. Trained on the squared error it spans the
    same subspace as the first ``code`` principal components (its weights are not those
    components: any invertible mix of them is as good)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((pixels,))
    code_layer = keras.layers.Dense(code, name="encode")(inputs)
    outputs = keras.layers.Dense(pixels, name="decode")(code_layer)
    model = keras.Model(inputs, outputs, name="linear_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model


def subspace_overlap(a, b) -> float:
    """How much the row spaces of ``a`` and ``b`` (each ``(k, d)``) agree: the mean squared cosine
    of their principal angles, 1 for the same subspace and 0 for orthogonal ones."""
    qa, _ = np.linalg.qr(np.asarray(a, dtype="float64").T)
    qb, _ = np.linalg.qr(np.asarray(b, dtype="float64").T)
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.mean(np.clip(cosines, 0, 1) ** 2))


# --------------------------------------------------------------------------- F4: label propagation

UNLABELLED = -1


def hide_labels(labels, labelled: int, seed: int = 0) -> np.ndarray:
    """A copy of integer ``labels`` with all but ``labelled`` of them replaced by -1 (scikit-learn's
    mark for "unlabelled"), the kept ones spread over the classes (as even as possible)."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise CourseError(f"label propagation classifies: labels must be integer classes, got {labels.dtype} "
                          "values. For a continuous target use a regression model.")
    if not 0 < labelled <= len(labels):
        raise CourseError(f"labelled must be between 1 and {len(labels)}, got {labelled}.")
    rng = np.random.default_rng(seed)
    keep = []
    classes = np.unique(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)).tolist() for c in classes]
    while len(keep) < labelled:
        for indices in per_class:
            if indices and len(keep) < labelled:
                keep.append(indices.pop())
    hidden = np.full(len(labels), UNLABELLED, dtype=np.int64)  # uint8 labels (MNIST) cannot hold -1
    hidden[keep] = labels[keep]
    return hidden


def propagate_labels(features, partial_labels, neighbours: int = 10):
    """Labels for every point from the few in ``partial_labels`` (-1: unlabelled): scikit-learn's
    ``LabelSpreading`` on a k-nearest-neighbour graph of ``features``. Returns the fitted model
    (``.transduction_`` holds every point's label)."""
    from sklearn.semi_supervised import LabelSpreading

    partial_labels = np.asarray(partial_labels)
    features = _as_matrix(features, "features")
    if len(partial_labels) != len(features):
        raise ShapeError(f"{len(features)} points but {len(partial_labels)} labels: give one label per point "
                         "(-1 for the unlabelled ones).")
    if not np.issubdtype(partial_labels.dtype, np.integer):
        raise CourseError("label propagation classifies: labels must be integer classes with -1 for unlabelled "
                          f"points, got {partial_labels.dtype}.")
    if not np.any(partial_labels == UNLABELLED):
        raise CourseError("no point is marked unlabelled (-1): label propagation has nothing to propagate to.")
    return LabelSpreading(kernel="knn", n_neighbors=neighbours, alpha=0.2, max_iter=100).fit(features, partial_labels)
