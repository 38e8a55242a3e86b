"""MNIST-M-style colour digits (lesson 04): MNIST strokes blended onto patches of CIFAR-10 photos.

Built, not downloaded: deterministic for a seed, from whatever the loaders find for
``mnist`` and ``cifar10`` (so it works on subsets too).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError
from .specs import DIGITS, Loaded

#: The datasets MNIST-M is built from: digits, then backgrounds.
SOURCES = ("mnist", "cifar10")


def background_patches(photos: np.ndarray, n: int, size: int = 28, seed: int = 0) -> np.ndarray:
    """``n`` random ``size`` x ``size`` crops of random ``photos`` (uint8 ``(M, H, W, 3)``), seeded."""
    photos = np.asarray(photos)
    if photos.ndim != 4 or photos.shape[-1] != 3 or photos.dtype != np.uint8:
        raise ShapeError(f"background photos must be uint8 (M, H, W, 3); got {photos.dtype} {photos.shape}.")
    if len(photos) == 0:
        raise DataError("No background photos to cut patches from (the array is empty).")
    height, width = photos.shape[1:3]
    if height < size or width < size:
        raise ShapeError(f"background photos of {height}x{width} are smaller than the {size}x{size} patches.")
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(photos), n)
    top = rng.integers(0, height - size + 1, n)
    left = rng.integers(0, width - size + 1, n)
    rows = (top[:, None] + np.arange(size))[:, :, None]
    cols = (left[:, None] + np.arange(size))[:, None, :]
    return photos[which[:, None, None], rows, cols]


def blend_digits(digits: np.ndarray, backgrounds: np.ndarray) -> np.ndarray:
    """The MNIST-M blend: ``|background - digit|`` per colour channel.

    Where the digit has no ink (0) the photograph shows through unchanged; where the
    ink is full (255) its colour is inverted (``255 - background``); strokes' soft
    edges fall in between. ``digits`` are uint8 ``(N, H, W, 1)``, ``backgrounds``
    uint8 ``(N, H, W, 3)``; the result is uint8 ``(N, H, W, 3)``.
    """
    digits, backgrounds = np.asarray(digits), np.asarray(backgrounds)
    if digits.ndim != 4 or digits.shape[-1] != 1 or digits.dtype != np.uint8:
        raise ShapeError(f"digits must be uint8 (N, H, W, 1); got {digits.dtype} {digits.shape}.")
    if backgrounds.shape != digits.shape[:3] + (3,) or backgrounds.dtype != np.uint8:
        raise ShapeError(f"backgrounds must be uint8 {digits.shape[:3] + (3,)} to match the digits; "
                         f"got {backgrounds.dtype} {backgrounds.shape}.")
    return np.abs(backgrounds.astype(np.int16) - digits.astype(np.int16)).astype(np.uint8)


def build_mnist_m(digits: np.ndarray, photos: np.ndarray, seed: int = 0) -> np.ndarray:
    """Colour digits: each digit blended (:func:`blend_digits`) onto a random crop of a random photo.

    Deterministic for a given ``seed``: the same digits, photos and seed give the same
    images, and image ``i`` keeps the label of digit ``i``.
    """
    digits = np.asarray(digits)
    if digits.ndim != 4 or digits.shape[-1] != 1:
        raise ShapeError(f"digits must be (N, H, W, 1); got {digits.shape}.")
    if digits.shape[1] != digits.shape[2]:
        raise ShapeError(f"square digits only, got {digits.shape[1:3]}.")
    return blend_digits(digits, background_patches(photos, len(digits), digits.shape[1], seed))


def from_sources(digits: Loaded, photos: Loaded, seed: int = 0) -> Loaded:
    """MNIST-M-style colour digits, official MNIST splits, as uint8 ``(N, 28, 28, 3)`` + labels.

    ``digits`` and ``photos`` are what :func:`course.data.load` returned for ``mnist`` and
    ``cifar10``. Training digits are blended onto crops of CIFAR-10 *training* photos, test
    digits onto crops of CIFAR-10 *test* photos, so no photo is shared between the splits.
    Built in about a second; nothing is written to disk. ``load("mnist_m")`` calls this.

    Note for lesson 04: the digits here are MNIST's own; a CycleGAN run must not pair
    an MNIST image with its MNIST-M twin, so it trains each domain on a different half
    of the training digits (:func:`unpaired_halves`).
    """
    (x_train, y_train), (x_test, y_test) = digits
    train = (build_mnist_m(x_train, photos.train[0], seed=seed), y_train)
    test = (build_mnist_m(x_test, photos.test[0], seed=seed + 1), y_test)
    return Loaded(train, test, name="mnist_m", class_names=DIGITS,
                  source=f"built with seed {seed} from MNIST [{digits.source}] + CIFAR-10 [{photos.source}]")


def unpaired_halves(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` at random into two disjoint halves: the A and the B training indices.

    Unpaired translation must not see the same digit in both domains: domain A trains on
    MNIST images ``a``, domain B on MNIST-M images ``b``, and no index is in both.
    """
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])
