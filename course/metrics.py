"""Measurements. Lesson 01: accuracy and the confusion matrix, from logits.

Later lessons add distances between feature sets, NLL in nats and label preservation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def predict_classes(model, images, batch_size: int = 512) -> np.ndarray:
    """Class predictions (argmax of the logits) for uint8 or [0, 1] float images."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    return np.argmax(apply_in_batches(model, x, batch_size), axis=-1)


def apply_in_batches(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """``model(x, training=False)`` batch by batch, as NumPy.

    Plain calls rather than ``model.predict``: no function is traced per model and batch
    shape, which for the few thousand images the course scores is faster and quieter.
    """
    if len(x) == 0:
        raise ValueError("no images to run the model on (the array is empty)")
    return np.concatenate([np.asarray(model(x[i: i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])


def accuracy(y_true, y_pred) -> float:
    """Fraction of predictions equal to the labels."""
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.shape[0]} labels but {y_pred.shape[0]} predictions")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """``(k, k)`` counts: row = true class, column = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


# --------------------------------------------------------------------------- lesson 02: distances


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (eigen-decomposition)."""
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows = samples).

    ``|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2)``. With Inception-v3
    features this is FID; with the course classifier's features it is the
    *classifier-feature* Fréchet distance, a different scale: never call it FID alone.
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (n, d) with the same d, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise ValueError("need at least two samples in each feature set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrtm_psd(cov_a)
    cross = _sqrtm_psd(root_a @ cov_b @ root_a)
    value = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(cross))
    return max(value, 0.0)


def kernel_inception_distance(features_a, features_b, subsets: int = 10, subset_size: int = 1000,
                              seed: int = 0) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel (KID), averaged over subsets.

    Unlike the Fréchet distance it has no bias from the sample size, so small
    sample counts (fast mode) still compare fairly.
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    d = a.shape[1]
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(off - 2 * kxy.mean())
    return float(np.mean(values))


def class_histogram(predicted: np.ndarray, class_names) -> dict[str, float]:
    """Fraction of samples predicted as each class; a collapsed GAN shows a few large bars."""
    counts = np.bincount(np.asarray(predicted, np.int64), minlength=len(class_names))
    return {str(name): round(float(c) / max(1, len(predicted)), 4) for name, c in zip(class_names, counts)}


# --------------------------------------------------------------------------- the evaluator


def cache_dir() -> Path:
    """Where trained evaluators are kept: ``$COURSE_CACHE_DIR`` or ``~/.cache/course``."""
    import os

    return Path(os.environ.get("COURSE_CACHE_DIR") or Path.home() / ".cache" / "course")


def evaluator(dataset: str = "mnist", *, fast: bool | None = None, data_dir=None, verbose=0):
    """The lesson-01 classifier for ``dataset``, trained once and cached, then loaded.

    Later lessons judge generated images with it: predicted classes (is it a 7?)
    and penultimate features (the classifier-feature Fréchet distance). Fast mode
    keeps a separate, quickly trained one, so fast figures never mix with full ones.
    """
    from . import config
    from .models import cnn

    fast = config.fast_mode() if fast is None else fast
    folder = cache_dir() / "evaluators" / f"cnn-{dataset}{'-fast' if fast else ''}"
    if not (folder / "model.keras").is_file():
        if verbose:
            print(f"Training the {dataset} evaluator once (cached in {folder}) ...")
        if fast:  # small, so that the first fast run of a later lesson stays short
            limits = config.FAST["evaluator"]
            cfg = cnn.TrainConfig(dataset=dataset, epochs=limits.epochs, batch_size=limits.batch_size,
                                  train_examples=limits.train_examples, fast=True)
        else:
            cfg = cnn.TrainConfig(dataset=dataset, epochs=5 if dataset != "cifar10" else 30)
        cnn.train(cfg, folder, resume=True, data_dir=data_dir, verbose=verbose)
    return cnn.load_classifier(folder)


def classifier_features(model, images, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """``(features, predicted_classes)`` of uint8 images under a course classifier."""
    import keras

    both = keras.Model(model.inputs, [model.get_layer("features").output, model.output])
    x = np.asarray(images)
    x = x.astype("float32") / 255.0 if x.dtype == np.uint8 else x
    features, logits = both.predict(x, batch_size=batch_size, verbose=0)
    return features, np.argmax(logits, axis=-1)


def inception_features(images, batch_size: int = 50) -> tuple[np.ndarray | None, str]:
    """Inception-v3 pool features of uint8 colour images, for a true (Inception) FID.

    Returns ``(features, "")`` or ``(None, reason)`` when the ImageNet weights cannot be
    loaded (they are downloaded on first use: offline machines cannot), so callers
    can say plainly why only the classifier-feature distance is reported.
    """
    import keras
    import tensorflow as tf

    try:
        model = keras.applications.InceptionV3(include_top=False, weights="imagenet", pooling="avg",
                                               input_shape=(299, 299, 3))
    except Exception as err:  # no network, blocked download, corrupt cache
        first = str(err).splitlines()[0][:160] if str(err) else ""
        return None, f"Inception-v3 ImageNet weights could not be loaded ({type(err).__name__}: {first})"
    out = []
    for start in range(0, len(images), batch_size):
        x = tf.image.resize(tf.cast(images[start: start + batch_size], tf.float32), (299, 299))
        out.append(model(keras.applications.inception_v3.preprocess_input(x), training=False).numpy())
    return np.concatenate(out), ""
