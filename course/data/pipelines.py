"""Shape checks, splits, pixel scaling and ``tf.data`` pipelines. Taught in 01_cnn_classifier, section Data.

Scaling conventions, stated once: classifiers and VAEs see ``[0, 1]``
(:func:`to_unit`), GANs see ``[-1, 1]`` (:func:`to_symmetric`).
"""
from __future__ import annotations

from typing import Callable, Iterable

import keras
import numpy as np
from keras import ops

from ..errors import DataError, ShapeError
from .mnist_m import unpaired_halves


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
    """uint8 pixels -> float32 in [0, 1] (classifiers, VAEs). NumPy in, NumPy out; tensors stay tensors."""
    if isinstance(images, np.ndarray):
        return images.astype(np.float32) / 255.0
    return ops.cast(images, "float32") / 255.0


def to_symmetric(images):
    """uint8 pixels -> float32 in [-1, 1] (GANs, whose generators end in tanh). NumPy in, NumPy out."""
    if isinstance(images, np.ndarray):
        return images.astype(np.float32) / 127.5 - 1.0
    return ops.cast(images, "float32") / 127.5 - 1.0


def from_symmetric(x) -> np.ndarray:
    """Floats in [-1, 1] -> uint8 pixels (for grids, GIFs and saved samples)."""
    x = np.asarray(ops.convert_to_numpy(x), dtype=np.float32)
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


SCALES: dict[str, Callable] = {"unit": to_unit, "symmetric": to_symmetric}


class EpochOrder:
    """The order in which a shuffled pipeline visits its examples: epoch ``e`` uses the permutation
    drawn from ``(seed, e)``.

    Each epoch's order depends on the seed and the epoch number alone, so a run resumed at
    epoch 4 sees exactly the order an uninterrupted run would have seen there (a shuffle
    buffer would start its random stream again and replay epoch 1's order). :func:`set_epoch`
    (called by :func:`course.runs.fit_resumable` before every epoch) says which epoch comes
    next; without it the epochs simply count up from 0.
    """

    def __init__(self, n: int, seed: int | None = None):
        self.n = int(n)
        self.seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
        self.epoch = 0

    def permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self.n)

    def next(self) -> np.ndarray:
        """The order of the epoch that starts now (then the epoch counter moves on)."""
        order = self.permutation(self.epoch)
        self.epoch += 1
        return order


def set_epoch(dataset, epoch: int) -> None:
    """Tell a course pipeline (and pipelines zipped into it) which epoch it serves next; others are left alone."""
    for order in getattr(dataset, "_course_orders", ()):
        order.epoch = int(epoch)


def pipeline(
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int | None = None,
    scale: str = "unit",
    drop_remainder: bool = False,
):
    """Batches of scaled images (and int32 labels): a ``tf.data`` pipeline on TensorFlow, a
    ``keras.utils.PyDataset`` of NumPy batches on the other backends. Same order, same values.

    The uint8 images stay in memory (a quarter of float32); each epoch the indices are
    shuffled (:class:`EpochOrder`), batched, the images gathered and scaled in one vectorised
    step per batch, and the next batch is prepared while the current one trains.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
    images = np.asarray(images)
    if len(images) == 0:
        raise DataError("No images to build a pipeline from (the array is empty).")
    if labels is not None and len(labels) != len(images):
        raise DataError(f"{len(images)} images but {len(labels)} labels.")
    if drop_remainder and len(images) < batch_size:
        raise DataError(f"{len(images)} images make no full batch of {batch_size}; lower the batch size.")
    order = EpochOrder(len(images), seed) if shuffle else None
    if keras.backend.backend() != "tensorflow":
        return ArrayBatches(images, labels, batch_size=batch_size, order=order, scale=scale,
                            drop_remainder=drop_remainder)
    import tensorflow as tf

    to_float = SCALES[scale]
    n = len(images)
    if order is None:
        indices = tf.data.Dataset.range(n)
    else:  # a fresh permutation each time the dataset is iterated, i.e. each epoch
        indices = tf.data.Dataset.range(1).flat_map(lambda _: tf.data.Dataset.from_tensor_slices(
            tf.reshape(tf.numpy_function(order.next, [], tf.int64, stateful=True), [n])))
    pixels = tf.constant(images)
    classes = None if labels is None else tf.constant(np.asarray(labels), dtype=tf.int32)

    def gather(idx):
        x = to_float(tf.gather(pixels, idx))
        return x if classes is None else (x, tf.gather(classes, idx))

    batches = n // batch_size if drop_remainder else -(-n // batch_size)
    ds = indices.batch(batch_size, drop_remainder=drop_remainder).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    # the shuffled indices come from a flat_map, whose length tf.data cannot know: state it, so
    # that fit() shows a progress bar with a total from the first epoch on
    ds = ds.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(tf.data.AUTOTUNE)
    ds._course_orders = [] if order is None else [order]
    return ds


class ArrayBatches(keras.utils.PyDataset):
    """The NumPy twin of :func:`pipeline`'s ``tf.data`` pipeline, for JAX and PyTorch (no TensorFlow needed)."""

    def __init__(self, images, labels=None, *, batch_size: int, order: EpochOrder | None, scale: str,
                 drop_remainder: bool):
        super().__init__()
        self.images, self.labels, self.batch_size = images, labels, int(batch_size)
        self.order, self.scale, self.drop_remainder = order, SCALES[scale], drop_remainder
        self._course_orders = [] if order is None else [order]
        self._indices = None

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_remainder else -(-n // self.batch_size)

    def on_epoch_begin(self):
        self._indices = self.order.next() if self.order is not None else np.arange(len(self.images))

    def on_epoch_end(self):
        self._indices = None

    def __getitem__(self, i):
        if self._indices is None:  # iterated by hand, outside fit()
            self.on_epoch_begin()
        idx = self._indices[i * self.batch_size: (i + 1) * self.batch_size]
        x = self.scale(self.images[idx])
        return x if self.labels is None else (x, np.asarray(self.labels[idx], dtype=np.int32))


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


def translation_splits(mnist_images: np.ndarray, mnist_m_images: np.ndarray, labels: np.ndarray, validation: int,
                       seed: int = 0):
    """Lesson 04's training digits: ``validation`` of them held out *paired* (the same digit in A and B,
    to measure label preservation while choosing a recipe), the rest cut into two disjoint unpaired
    halves for domains A and B (:func:`unpaired_domains`). The test digits are not touched here.

    Returns ``(train_a, train_b, val_a, val_b, val_labels)``; A images as 3-channel grey.
    """
    if not len(mnist_images) == len(mnist_m_images) == len(labels):
        raise ShapeError(f"{len(mnist_images)} MNIST images, {len(mnist_m_images)} MNIST-M images and {len(labels)} "
                         "labels: MNIST-M must be built from the same digits.")
    if not 0 <= validation < len(labels) // 2:
        raise ValueError(f"validation must be between 0 and half the {len(labels)} training digits, got {validation}")
    order = np.random.default_rng(seed).permutation(len(labels))
    val, rest = np.sort(order[:validation]), np.sort(order[validation:])
    train_a, train_b = unpaired_domains(mnist_images[rest], mnist_m_images[rest], seed=seed)
    return train_a, train_b, to_domain_a(mnist_images[val]), mnist_m_images[val], labels[val]


def unpaired_batches(train_a, train_b, batch_size: int, seed: int = 0):
    """Batches ``(a, b)`` in [-1, 1]: each domain shuffled on its own every epoch (unpaired)."""
    streams = [pipeline(x, batch_size=batch_size, shuffle=True, seed=seed + i, scale="symmetric",
                        drop_remainder=True) for i, x in enumerate((train_a, train_b))]
    if keras.backend.backend() != "tensorflow":
        return ZippedBatches(*streams)
    import tensorflow as tf

    zipped = tf.data.Dataset.zip(tuple(streams)).prefetch(tf.data.AUTOTUNE)
    zipped._course_orders = [order for s in streams for order in s._course_orders]
    return zipped


class ZippedBatches(keras.utils.PyDataset):
    """Two :class:`ArrayBatches` side by side, as many batches as the shorter has."""

    def __init__(self, a: ArrayBatches, b: ArrayBatches):
        super().__init__()
        self.streams = (a, b)
        self._course_orders = a._course_orders + b._course_orders

    def __len__(self) -> int:
        return min(len(s) for s in self.streams)

    def on_epoch_begin(self):
        for s in self.streams:
            s.on_epoch_begin()

    def on_epoch_end(self):
        for s in self.streams:
            s.on_epoch_end()

    def __getitem__(self, i):
        return tuple(s[i] for s in self.streams)
