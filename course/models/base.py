"""What every model family shares."""
from __future__ import annotations

import numpy as np


def apply_in_batches(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """``model(x, training=False)`` batch by batch, as NumPy.

    Plain calls rather than ``model.predict``: no function is traced per model and batch
    shape, which for the few thousand images the course scores is faster and quieter.
    """
    if len(x) == 0:
        raise ValueError("no images to run the model on (the array is empty)")
    return np.concatenate([np.asarray(model(x[i: i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Full batches in ``n_images`` (GAN steps drop the last partial batch)."""
    return max(1, n_images // batch_size)
