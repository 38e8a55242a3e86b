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
    Both sets are resampled in every repeat: give pools larger than ``n`` (lesson 05 uses 2n), else
    the draws of the smaller one are the same images every time and the spread ignores them.
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


# --------------------------------------------------------------------------- lesson 05: judging samples


def _squared_distances(block: np.ndarray, references: np.ndarray, references_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(block), len(references))`` (never below 0 by rounding)."""
    return np.maximum(np.sum(block ** 2, axis=1)[:, None] + references_sq[None, :] - 2 * block @ references.T, 0.0)


def nearest_neighbours(queries, references, k: int = 1, exclude_self: bool = False,
                       batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances ``(n, k)`` from each row of ``queries`` to its ``k`` nearest rows of
    ``references``, and their indices. ``exclude_self`` (``queries`` *is* ``references``) skips
    each point itself, which is always its own nearest neighbour at distance 0."""
    q, r = np.asarray(queries, np.float32), np.asarray(references, np.float32)  # float32: half the time, ample precision
    q, r = q.reshape(len(q), -1), r.reshape(len(r), -1)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} values per item, references {r.shape[1]}")
    if k + int(exclude_self) > len(r):
        raise ValueError(f"k = {k} neighbours asked for among {len(r)} references")
    r_sq = np.sum(r ** 2, axis=1)
    distances, indices = [], []
    for start in range(0, len(q), batch):
        block = q[start: start + batch]
        sq = _squared_distances(block, r, r_sq)
        if exclude_self:
            sq[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        idx = np.argpartition(sq, k - 1, axis=1)[:, :k]
        part = np.take_along_axis(sq, idx, axis=1)
        order = np.argsort(part, axis=1)
        indices.append(np.take_along_axis(idx, order, axis=1))
        distances.append(np.sqrt(np.take_along_axis(part, order, axis=1)))
    return np.concatenate(distances), np.concatenate(indices)


def knn_radii(features, k: int = 3) -> np.ndarray:
    """Each point's distance to its ``k``-th nearest *other* point: the radius of its ball in the
    k-nearest-neighbour estimate of the set's manifold."""
    return nearest_neighbours(features, features, k, exclude_self=True)[0][:, -1]


def precision_recall(real_features, fake_features, k: int = 3) -> dict[str, float]:
    """Precision and recall for generative models (Kynkaanniemi et al., 2019), in classifier features.

    Each set's manifold is the union of balls around its points, each reaching its ``k``-th nearest
    neighbour. **Precision**: the fraction of generated points inside the real manifold (fidelity:
    do samples look like data?). **Recall**: the fraction of real points inside the generated
    manifold (diversity: is all of the data covered?). A collapsed generator has high precision
    and low recall; blurry or noisy samples have low precision.
    """
    real, fake = np.asarray(real_features, np.float64), np.asarray(fake_features, np.float64)

    def inside(points, centres):
        radii = knn_radii(centres, k)
        r_sq = np.sum(centres ** 2, axis=1)
        hits = []
        for start in range(0, len(points), 256):
            block = points[start: start + 256]
            hits.append(np.any(_squared_distances(block, centres, r_sq) <= radii[None, :] ** 2, axis=1))
        return float(np.mean(np.concatenate(hits)))

    return {"precision": inside(fake, real), "recall": inside(real, fake)}


def memorisation(samples, train, heldout) -> dict:
    """Does a generator copy its training images? Compared in pixels, where a copy is a copy.

    For each sample, the distance to its nearest training image; for each *held-out* real image
    (never trained on), the same. A generator that learned the distribution makes samples as far
    from the training set as new real images are (``ratio`` about 1 or more); one that memorised
    makes samples much closer (``ratio`` well below 1), many closer than almost any held-out
    image (``near_copies``: the fraction of samples closer than the 1st percentile of held-out
    distances; about 0.01 when nothing is copied).
    """
    def rows(images):
        x = np.asarray(images)
        return x.reshape(len(x), -1).astype(np.float64) / (255.0 if x.dtype == np.uint8 else 1.0)

    train_rows = rows(train)
    sample_d = nearest_neighbours(rows(samples), train_rows)[0][:, 0]
    heldout_d = nearest_neighbours(rows(heldout), train_rows)[0][:, 0]
    threshold = float(np.percentile(heldout_d, 1))
    ratio = float(np.median(sample_d) / max(np.median(heldout_d), 1e-12))
    near = float(np.mean(sample_d < threshold))
    copies = ratio < 0.5 or near > 0.1
    return {"median_sample_distance": round(float(np.median(sample_d)), 4),
            "median_heldout_distance": round(float(np.median(heldout_d)), 4),
            "ratio": round(ratio, 4), "near_copies": round(near, 4),
            "verdict": "copies its training images" if copies else "no sign of copying"}


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve: the probability that a random positive (label 1) scores above a
    random negative (ties count half). 0.5 is chance; 1 separates them perfectly."""
    scores, labels = np.asarray(scores, np.float64).reshape(-1), np.asarray(labels).reshape(-1)
    if set(np.unique(labels).tolist()) - {0, 1} or len(np.unique(labels)) != 2:
        raise ValueError("labels must be 0 and 1, with both present")
    ranks = np.empty(len(scores))
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    # average ranks (1-based) over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
