"""Measurements. Lesson 01: accuracy and the confusion matrix, from logits.

Later lessons add distances between feature sets, NLL in nats and label preservation.
"""
from __future__ import annotations

import numpy as np


def predict_classes(model, images, batch_size: int = 512) -> np.ndarray:
    """Class predictions (argmax of the logits) for uint8 or [0, 1] float images."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return np.argmax(logits, axis=-1)


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
