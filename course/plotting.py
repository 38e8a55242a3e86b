"""Image grids, training curves and confusion matrices.

``grid_image``/``save_png`` build pictures as arrays (no matplotlib, for files
and GIFs); the ``plot_*`` functions return matplotlib figures for notebooks.
Taught in 01_cnn_classifier, section Look at the results.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from .io import atomic_path


def _as_uint8(images) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return x
    if float(np.min(x)) < -1e-3:  # [-1, 1] (GAN outputs)
        x = (x + 1.0) / 2.0
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def grid_image(images, ncols: int = 10, pad: int = 2) -> np.ndarray:
    """Tile ``(N, H, W, C)`` images into one uint8 ``(rows*H, cols*W, C)`` picture.

    Accepts uint8, floats in [0, 1] or floats in [-1, 1].
    """
    x = _as_uint8(images)
    if x.ndim == 3:
        x = x[..., None]
    n, h, w, c = x.shape
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    out = np.zeros((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), np.uint8)
    for i in range(n):
        r, k = divmod(i, ncols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = x[i]
    return out


def save_png(path, picture: np.ndarray, scale: int = 2, info: dict | None = None) -> Path:
    """Write a uint8 picture as PNG (grey when it has one channel), enlarged ``scale`` times.

    ``info`` goes into the file as PNG text fields (what made it, from which run): the course
    marks every picture its generators make that way (:func:`generated_info`), and
    :func:`read_png_info` reads it back. Such metadata is provenance, not protection: a
    re-encode, a screenshot or a crop drops it (taught in 05_evaluation).
    """
    from PIL import Image, PngImagePlugin

    pic = np.asarray(picture)
    if scale > 1:
        pic = pic.repeat(scale, axis=0).repeat(scale, axis=1)
    if pic.ndim == 3 and pic.shape[-1] == 1:
        pic = pic[..., 0]
    meta = PngImagePlugin.PngInfo()
    for key, value in (info or {}).items():
        meta.add_text(str(key), str(value))
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(pic.astype(np.uint8))).save(tmp, format="PNG", pnginfo=meta)
    return Path(path)


def generated_info(model: str, run=None) -> dict:
    """The provenance fields of a picture a course model generated."""
    from .version import __version__

    info = {"Software": f"course {__version__} (Keras 3)", "Generated": "yes: made by a generative model",
            "Model": model}
    if run is not None:
        info["Run"] = Path(run).name
    return info


def read_png_info(path) -> dict:
    """The PNG text fields of an image file ({} when it has none, or is not a PNG)."""
    from PIL import Image

    with Image.open(path) as image:
        return dict(getattr(image, "text", {}) or {})


def show_images(images, labels: Sequence | None = None, ncols: int = 10, size: float = 1.0, title=None):
    """Show images in a grid with optional captions (class names or "true/pred")."""
    import matplotlib.pyplot as plt

    x = _as_uint8(images)
    n = len(x)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * (1.25 if labels is not None else 1)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = x[i]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history: dict[str, list[float]], keys: Sequence[str] | None = None, title=None):
    """Plot training curves: each metric and, beside it, its ``val_`` twin if present."""
    import matplotlib.pyplot as plt

    keys = [k for k in (keys or history) if not k.startswith("val_") and k != "epoch_seconds"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], marker="o", label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", label="validation")
            ax.legend()
        ax.set_xlabel("epoch")
        ax.set_title(key)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], title="Confusion matrix"):
    """Show a confusion matrix (rows: true class, columns: predicted class) with counts."""
    import matplotlib.pyplot as plt

    m = np.asarray(matrix)
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(0.55 * k + 2, 0.55 * k + 1.5))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(k), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = m.max() / 2 if m.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > threshold else "black")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_latent_map(codes: np.ndarray, labels: np.ndarray, class_names: Sequence[str], axis_label: str = "z",
                    title="Test images in latent space"):
    """Scatter 2-D latent codes coloured by class (taught in 03_vae)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=4, vmin=-0.5, vmax=len(class_names) - 0.5)
    bar = fig.colorbar(points, ticks=range(len(class_names)))
    bar.ax.set_yticklabels(class_names)
    ax.set_xlabel(f"{axis_label} 1")
    ax.set_ylabel(f"{axis_label} 2")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_game(monitors: dict, keys: Sequence[str] = ("D(G(z))", "G gradient norm"), title=None):
    """Side by side, for several runs (name -> :class:`course.evaluation.GameMonitor`), how each
    quantity of the game moved over the training steps (taught in 02_dcgan, When GANs fail)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for name, monitor in monitors.items():
            steps, values = monitor.series(key)
            ax.plot(steps, values, marker=".", label=name)
        ax.set_xlabel("training step")
        ax.set_title(key)
        if key == "G gradient norm":
            ax.set_yscale("symlog", linthresh=1e-3)
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
