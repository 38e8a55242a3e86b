"""Shape checks, splits, pixel scaling and ``tf.data`` pipelines. Taught in 01_cnn_classifier, section Data.

Scaling conventions, stated once: classifiers and VAEs see ``[0, 1]``
(:func:`to_unit`), GANs see ``[-1, 1]`` (:func:`to_symmetric`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from ..errors import DataError, ShapeError
from .mnist_m import unpaired_halves

if TYPE_CHECKING:
    import tensorflow as tf


def check_images(images, expected_shape: Iterable[int], what: str = "images") -> None:
    """Raise :class:`ShapeError` unless ``images`` is a batch ``(N, *expected_shape)``.

    The message names both shapes and, for the usual slips, the fix.
    """
    expected = tuple(int(s) for s in expected_shape)
    shape = tuple(getattr(images, "shape", ()))
    if len(shape) == len(expected) + 1 and shape[1:] == expected:
        dtype = str(getattr(images, "dtype", ""))
        if not (dtype.startswith("uint8") or dtype.startswith("float")):
            raise ShapeError(f"{what} have dtype {dtype}; expected uint8 pixels or floats.")
        return
    hint = ""
    if len(shape) == len(expected) and shape[1:] == expected[:-1] and expected[-1] == 1:
        hint = " Add the channel axis: images[..., None]."
    elif len(shape) == len(expected) + 1 and shape[1:] == (expected[-1],) + expected[:-1]:
        hint = " The channels come first; move them last: np.transpose(images, (0, 2, 3, 1))."
    elif len(shape) == 2 and shape[1] == int(np.prod(expected)):
        hint = f" Reshape the flat vectors: images.reshape(-1, {', '.join(map(str, expected))})."
    elif len(shape) == len(expected):
        hint = " A single image needs a batch axis: images[None]."
    raise ShapeError(
        f"{what} have shape {shape}, but this model expects a batch of shape (N, "
        f"{', '.join(map(str, expected))}).{hint}"
    )


def split(images: np.ndarray, labels: np.ndarray, fraction: float, seed: int = 0):
    """Hold out a random ``fraction`` of a training split for validation (the test split stays untouched).

    Returns ``(x_fit, y_fit), (x_val, y_val)``; deterministic for a given ``seed``.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    n_val = int(round(len(images) * fraction))
    order = np.random.default_rng(seed).permutation(len(images))
    val, fit = order[:n_val], order[n_val:]
    return (images[fit], labels[fit]), (images[val], labels[val])


def to_unit(images):
    """uint8 pixels -> float32 in [0, 1] (classifiers, VAEs)."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 255.0


def to_symmetric(images):
    """uint8 pixels -> float32 in [-1, 1] (GANs, whose generators end in tanh)."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 127.5 - 1.0


def from_symmetric(x) -> np.ndarray:
    """Floats in [-1, 1] -> uint8 pixels (for grids, GIFs and saved samples)."""
    x = np.asarray(x, dtype=np.float32)
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


SCALES: dict[str, Callable] = {"unit": to_unit, "symmetric": to_symmetric}


def pipeline(
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int | None = None,
    scale: str = "unit",
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """A ``tf.data`` pipeline: cache the uint8 data, shuffle each epoch, batch, scale, prefetch.

    Caching uint8 before the shuffle keeps memory at a quarter of float32 and
    reshuffles every epoch; scaling after batching runs one vectorised op per batch.
    """
    import tensorflow as tf

    if scale not in SCALES:
        raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
    if len(images) == 0:
        raise DataError("No images to build a pipeline from (the array is empty).")
    to_float = SCALES[scale]
    tensors = images if labels is None else (images, labels)
    ds = tf.data.Dataset.from_tensor_slices(tensors).cache()
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if labels is None:
        ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (to_float(x), tf.cast(y, tf.int32)), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- two unpaired domains (lesson 04)


def to_domain_a(images: np.ndarray) -> np.ndarray:
    """Grey MNIST ``(N, H, W, 1)`` -> domain A ``(N, H, W, 3)`` (the grey copied to each channel)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ShapeError(f"expected images (N, H, W, 1) or (N, H, W, 3), got {images.shape}")
    return images if images.shape[-1] == 3 else np.repeat(images, 3, axis=-1)


def to_grey(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` -> uint8 ``(N, H, W, 1)``, the mean of the channels (for the MNIST classifier)."""
    images = np.asarray(images)
    return np.round(images.astype(np.float32).mean(axis=-1, keepdims=True)).astype(np.uint8)


def unpaired_domains(mnist_images: np.ndarray, mnist_m_images: np.ndarray, seed: int = 0):
    """Training images of A and B from disjoint halves of the digits: ``(train_a, train_b)``.

    ``mnist_m_images[i]`` is MNIST digit ``i`` on a photo, so A takes one random half of
    the indices and B the other: no digit is seen in both domains. A is returned as
    3-channel grey (:func:`to_domain_a`).
    """
    if len(mnist_images) != len(mnist_m_images):
        raise ShapeError(f"{len(mnist_images)} MNIST images but {len(mnist_m_images)} MNIST-M images; "
                         "MNIST-M must be built from the same digits.")
    half_a, half_b = unpaired_halves(len(mnist_images), seed=seed)
    return to_domain_a(mnist_images[half_a]), mnist_m_images[half_b]


def unpaired_batches(train_a, train_b, batch_size: int, seed: int = 0):
    """Batches ``(a, b)`` in [-1, 1]: each domain shuffled on its own every epoch (unpaired)."""
    import tensorflow as tf

    streams = [pipeline(x, batch_size=batch_size, shuffle=True, seed=seed + i, scale="symmetric",
                        drop_remainder=True) for i, x in enumerate((train_a, train_b))]
    return tf.data.Dataset.zip(tuple(streams)).prefetch(tf.data.AUTOTUNE)
