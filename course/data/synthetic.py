"""Digits the package renders itself, for unit tests and offline smoke runs (only when asked for by name)."""
from __future__ import annotations

import functools

import numpy as np


_FONTS = [
    ("DejaVu Sans", "normal", "normal"), ("DejaVu Sans", "bold", "normal"),
    ("DejaVu Sans", "normal", "oblique"), ("DejaVu Sans", "bold", "oblique"),
    ("DejaVu Serif", "normal", "normal"), ("DejaVu Serif", "bold", "normal"),
    ("DejaVu Serif", "normal", "italic"), ("DejaVu Sans Mono", "normal", "normal"),
    ("DejaVu Sans Mono", "bold", "normal"), ("STIXGeneral", "normal", "normal"),
]


def _fit_box(ink: np.ndarray, box: int = 20, size: int = 28) -> np.ndarray:
    """Scale ink to fit a ``box`` square and centre its mass in a ``size`` square, as MNIST does."""
    from PIL import Image

    rows, cols = np.nonzero(ink > 10)
    ink = ink[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    h, w = ink.shape
    scale = box / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(ink).resize(new, Image.LANCZOS), dtype=np.float32)
    out = np.zeros((size, size), np.float32)
    mass = small.sum() or 1.0
    cy = (small.sum(1) * np.arange(small.shape[0])).sum() / mass
    cx = (small.sum(0) * np.arange(small.shape[1])).sum() / mass
    top = int(np.clip(round(size / 2 - cy), 0, size - small.shape[0]))
    left = int(np.clip(round(size / 2 - cx), 0, size - small.shape[1]))
    out[top: top + small.shape[0], left: left + small.shape[1]] = small
    return np.clip(out, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def _digit_templates() -> np.ndarray:
    """``(fonts, 10, 28, 28)`` uint8: each digit rendered in each font, centred like MNIST."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    templates = np.zeros((len(_FONTS), 10, 28, 28), np.uint8)
    for f, (family, weight, style) in enumerate(_FONTS):
        props = FontProperties(family=family, weight=weight, style=style)
        for digit in range(10):
            fig = Figure(figsize=(1, 1), dpi=96)
            canvas = FigureCanvasAgg(fig)
            fig.text(0.5, 0.5, str(digit), fontproperties=props, fontsize=52,
                     ha="center", va="center")
            canvas.draw()
            ink = 255 - np.asarray(canvas.buffer_rgba())[..., 0]
            templates[f, digit] = _fit_box(ink)
    return templates


def synthetic_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` labelled 28x28x1 uint8 digits rendered from fonts with random affine jitter.

    Deterministic for a given ``seed``. For unit tests and offline smoke runs only:
    they look like MNIST but are not MNIST, so no figure from them is a MNIST figure.
    """
    from PIL import Image, ImageFilter

    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    templates = _digit_templates()
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    fonts = rng.integers(0, len(templates), n)
    angle = np.deg2rad(rng.uniform(-15, 15, n))
    scale = rng.uniform(0.8, 1.1, n)
    shear = rng.uniform(-0.25, 0.25, n)
    shift = rng.uniform(-2, 2, (n, 2))
    thicken = rng.random(n) < 0.3
    out = np.empty((n, 28, 28, 1), np.uint8)
    c = 13.5
    for i in range(n):
        cos, sin = np.cos(angle[i]) / scale[i], np.sin(angle[i]) / scale[i]
        # inverse map (output pixel -> input pixel) about the centre, as PIL expects
        a, b = cos, sin + shear[i] * cos
        d, e = -sin, cos - shear[i] * sin
        cx, cy = c - shift[i, 0], c - shift[i, 1]
        coeffs = (a, b, c - a * cx - b * cy, d, e, c - d * cx - e * cy)
        img = Image.fromarray(templates[fonts[i], labels[i]])
        if thicken[i]:
            img = img.filter(ImageFilter.MaxFilter(3))
        img = img.transform((28, 28), Image.AFFINE, coeffs, resample=Image.BILINEAR)
        out[i, ..., 0] = np.asarray(img)
    return out, labels.astype(np.uint8)
