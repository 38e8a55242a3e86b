"""Pure maths of measurement, on NumPy arrays: no models, no files.

Lesson 01: accuracy and the confusion matrix. Lesson 02: the Fréchet distance and KID
between feature sets, and the class histogram of generated samples. The models that
make features and predictions are applied in :mod:`course.evaluation`.
"""
from __future__ import annotations

import numpy as np


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


def kid_subsets(features_a, features_b, subsets: int = 10, subset_size: int = 1000, seed: int = 0) -> np.ndarray:
    """KID (unbiased squared MMD, cubic polynomial kernel) on ``subsets`` random subsets of each set.

    A subset holds at most half of the smaller set, so the subsets differ and their spread
    says how much the figure moves with the sample: report it with the mean.
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (n, d) with the same d, got {a.shape} and {b.shape}")
    d = a.shape[1]
    m = min(subset_size, len(a) // 2, len(b) // 2)
    if m < 2:
        raise ValueError("need at least four samples in each feature set")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(off - 2 * kxy.mean())
    return np.asarray(values)


def kernel_inception_distance(features_a, features_b, subsets: int = 10, subset_size: int = 1000,
                              seed: int = 0) -> float:
    """KID, the mean of :func:`kid_subsets`. Unlike the Fréchet distance it has no bias from the
    sample size, so small sample counts (fast mode) still compare fairly."""
    return float(np.mean(kid_subsets(features_a, features_b, subsets, subset_size, seed)))


def frechet_distance_subsets(features_a, features_b, n: int, repeats: int = 5, seed: int = 0) -> np.ndarray:
    """The Fréchet distance between random ``n``-image subsets of each set, ``repeats`` times.

    The Fréchet distance shrinks as the samples grow (its estimate is biased upwards), so
    two figures compare only at the same ``n``; the spread over repeats is its uncertainty.
    """
    a, b = np.asarray(features_a), np.asarray(features_b)
    if n > min(len(a), len(b)):
        raise ValueError(f"n = {n} is more than the smaller set ({min(len(a), len(b))})")
    rng = np.random.default_rng(seed)
    return np.asarray([frechet_distance(a[rng.choice(len(a), n, replace=False)], b[rng.choice(len(b), n, replace=False)])
                       for _ in range(repeats)])


def class_histogram(predicted: np.ndarray, class_names) -> dict[str, float]:
    """Fraction of samples predicted as each class; a collapsed GAN shows a few large bars."""
    counts = np.bincount(np.asarray(predicted, np.int64), minlength=len(class_names))
    return {str(name): round(float(c) / max(1, len(predicted)), 4) for name, c in zip(class_names, counts)}
