"""Datasets and ``tf.data`` pipelines. Taught in 01_cnn_classifier, section Data.

``load(name)`` returns uint8 images with a channel axis, ``(N, H, W, C)``, and
integer labels, in the official train/test splits::

    (x_train, y_train), (x_test, y_test) = course.data.load("mnist")

Sources, tried in this order (the first that holds the dataset wins, and a
file that is there but broken is an error, never a reason to use other data):

1. ``data_dir=`` if given, else ``$COURSE_DATA_DIR``: the official file formats
   (IDX ``.gz`` for MNIST / Fashion-MNIST, python batches for CIFAR-10), any record count;
2. Debian's ``/usr/share/datasets/fashion-mnist`` for Fashion-MNIST;
3. ``keras.datasets`` (its cache, else a download).

``synthetic_digits`` are digits the package renders itself; they are used only
when asked for by name (unit tests, offline smoke runs).

``mnist_m`` (lesson 04) is built, not downloaded: MNIST digits blended onto
patches of CIFAR-10 photographs (:func:`build_mnist_m`), deterministic for a seed.

Scaling conventions, stated once: classifiers and VAEs see ``[0, 1]``
(:func:`to_unit`), GANs see ``[-1, 1]`` (:func:`to_symmetric`).
"""
from __future__ import annotations

import functools
import gzip
import io
import os
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from .errors import DataError, ShapeError

if TYPE_CHECKING:
    import tensorflow as tf

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@dataclass(frozen=True)
class DatasetSpec:
    """What the course knows about a dataset: shape, classes and where to look for it."""

    name: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    file_format: str  # "idx", "cifar", "synthetic" or "derived" (built from other datasets)
    folders: tuple[str, ...] = ()  # sub-folders of COURSE_DATA_DIR that may hold it
    debian_dir: Path | None = None
    keras_loader: str | None = None  # attribute of keras.datasets

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


DIGITS = tuple(str(i) for i in range(10))
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("mnist", (28, 28, 1), DIGITS, "idx", ("mnist",), None, "mnist"),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist",
        (28, 28, 1),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "idx",
        ("fashion-mnist", "fashion_mnist"),
        DEBIAN_FASHION_DIR,
        "fashion_mnist",
    ),
    "cifar10": DatasetSpec(
        "cifar10",
        (32, 32, 3),
        ("airplane", "automobile", "bird", "cat", "deer",
         "dog", "frog", "horse", "ship", "truck"),
        "cifar",
        ("cifar-10-batches-py", "cifar10/cifar-10-batches-py", "cifar10"),
        None,
        "cifar10",
    ),
    "synthetic_digits": DatasetSpec("synthetic_digits", (28, 28, 1), DIGITS, "synthetic"),
    "mnist_m": DatasetSpec("mnist_m", (28, 28, 3), DIGITS, "derived"),
}


def spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name``; a clear error for an unknown name."""
    if name not in DATASETS:
        raise DataError(
            f"Unknown dataset {name!r}. Choose one of: {', '.join(DATASETS)}."
        )
    return DATASETS[name]


class Loaded(tuple):
    """``((x_train, y_train), (x_test, y_test))`` plus ``.name``, ``.source``, ``.class_names``."""

    name: str
    source: str
    class_names: tuple[str, ...]

    def __new__(cls, train, test, *, name: str, source: str, class_names):
        obj = super().__new__(cls, (tuple(train), tuple(test)))
        obj.name, obj.source, obj.class_names = name, source, tuple(class_names)
        return obj

    @property
    def train(self) -> tuple[np.ndarray, np.ndarray]:
        return self[0]

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray]:
        return self[1]


# --------------------------------------------------------------------------- files


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{path} cannot be read ({err}). The file is truncated or corrupt: "
            "replace it with a fresh copy of the official file."
        ) from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file of unsigned bytes (gzipped or not), checking header and size."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(
            f"{path} is empty or truncated ({len(raw)} bytes): replace it with the official file."
        )
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] not in (1, 3):
        magic = struct.unpack(">I", raw[:4])[0]
        raise DataError(
            f"{path} is not an IDX file of unsigned bytes (magic number {magic}, expected "
            "2049 for labels or 2051 for images). Is it the right file?"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header: replace it with the official file.")
    dims = struct.unpack(">" + "I" * ndim, raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: the header promises {dims} = {expected} bytes of data but the file holds "
            f"{len(raw) - header}. The file is truncated or corrupt: replace it."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_file(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{folder} holds part of the dataset but not {stem}.gz. "
        f"Copy all four official IDX files ({', '.join(f + '.gz' for f in _IDX_FILES.values())}) there."
    )


def _load_idx_folder(folder: Path, ds: DatasetSpec):
    arrays = {key: read_idx(_find_file(folder, stem)) for key, stem in _IDX_FILES.items()}
    out = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        img_file, lab_file = folder / _IDX_FILES[f"{split}_images"], folder / _IDX_FILES[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != ds.image_shape[:2]:
            raise DataError(
                f"{img_file}(.gz) holds images of shape {images.shape[1:]}, expected "
                f"{ds.image_shape[:2]} for {ds.name}. Is it the right dataset?"
            )
        if labels.ndim != 1:
            raise DataError(f"{lab_file}(.gz) is an image file, expected labels. Are the files swapped?")
        if len(images) != len(labels):
            raise DataError(
                f"{folder}: {len(images)} {split} images but {len(labels)} {split} labels; "
                "the two files must come from the same release."
            )
        if len(images) == 0:
            raise DataError(f"{img_file}(.gz) holds no images: replace it with the official file.")
        if labels.max() >= ds.num_classes:
            raise DataError(f"{lab_file}(.gz) has label {labels.max()}; {ds.name} has {ds.num_classes} classes.")
        out.append((images[..., None].copy(), labels.astype(np.uint8)))
    return out


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches only: plain containers and NumPy arrays, no other code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch into ``(N, 32, 32, 3)`` uint8 images and labels."""
    path = Path(path)
    raw = _read_bytes(path)
    if not raw:
        raise DataError(f"{path} is empty: replace it with the official CIFAR-10 batch.")
    try:
        batch = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # truncated or foreign pickles raise many kinds of error
        raise DataError(
            f"{path} is not a readable CIFAR-10 python batch ({type(err).__name__}: {err}). "
            "It is truncated or corrupt: replace it with the official file."
        ) from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(f"{path} lacks the keys b'data' and b'labels' of a CIFAR-10 batch (found {keys}).")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: b'data' is {data.dtype} {data.shape}, expected uint8 (N, 3072).")
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {len(data)} images but {labels.size} labels.")
    if len(data) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: labels outside 0..9.")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.uint8)


def _load_cifar_folder(folder: Path, ds: DatasetSpec):
    missing = [f for f in _CIFAR_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"{folder} holds part of CIFAR-10 but lacks {', '.join(missing)}. "
            "Copy the whole cifar-10-batches-py folder there."
        )
    parts = [read_cifar_batch(folder / f) for f in _CIFAR_FILES[:5]]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = read_cifar_batch(folder / "test_batch")
    for split, (x, _) in (("training", train), ("test", test)):
        if len(x) == 0:
            raise DataError(f"{folder}: the {split} batches hold no images.")
    return [train, test]


# --------------------------------------------------------------------------- sources


def _data_root(data_dir) -> tuple[Path | None, str]:
    if data_dir is not None:
        return Path(data_dir), f"data_dir={data_dir}"
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        return Path(env), f"COURSE_DATA_DIR={env}"
    return None, "COURSE_DATA_DIR (not set)"


def _folder_in(root: Path, ds: DatasetSpec) -> Path | None:
    for sub in ds.folders:
        folder = root / sub
        if folder.is_dir():
            return folder
    return None


def _keras_cache_hint(ds: DatasetSpec) -> bool:
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    names = {"mnist": ["mnist.npz"], "fashion_mnist": ["fashion-mnist"],
             "cifar10": ["cifar-10-batches-py", "cifar-10-batches-py-target",
                         "cifar-10-batches-py_extracted"]}[ds.name]
    return any((home / n).exists() for n in names)


def sources(name: str, data_dir=None) -> list[dict]:
    """Where ``name`` would be looked for, in order, and what is found there (no loading).

    Used by ``python -m course info``.
    """
    ds = spec(name)
    if ds.file_format == "synthetic":
        return [{"source": "built-in", "where": "rendered by course.data", "status": "available"}]
    if ds.file_format == "derived":
        usable = ("files present", "cached")
        parts = {part: any(r["status"] in usable for r in sources(part, data_dir)) for part in MNIST_M_SOURCES}
        missing = [part for part, ok in parts.items() if not ok]
        return [{"source": "built from " + " + ".join(MNIST_M_SOURCES), "where": "course.data.build_mnist_m",
                 "status": "available" if not missing else f"needs {' and '.join(missing)}"}]
    found = []
    root, label = _data_root(data_dir)
    if root is None:
        found.append({"source": label, "where": "-", "status": "not set"})
    elif not root.is_dir():
        found.append({"source": label, "where": str(root), "status": "folder does not exist"})
    else:
        folder = _folder_in(root, ds)
        where = str(folder or root / ds.folders[0])
        status = "files present" if folder and any(folder.iterdir()) else (
            "folder empty" if folder else "missing")
        found.append({"source": label, "where": where, "status": status})
    if ds.debian_dir is not None:
        present = ds.debian_dir.is_dir() and any(ds.debian_dir.iterdir())
        found.append({"source": "debian", "where": str(ds.debian_dir),
                      "status": "files present" if present else "missing (apt-get install dataset-fashion-mnist)"})
    if ds.keras_loader:
        found.append({"source": "keras.datasets", "where": f"keras.datasets.{ds.keras_loader}",
                      "status": "cached" if _keras_cache_hint(ds) else "needs a download"})
    return found


def _load_folder(folder: Path, ds: DatasetSpec):
    if not any(folder.iterdir()):
        raise DataError(
            f"The data folder {folder} for {ds.name} is empty. Copy the official files there, "
            "or point COURSE_DATA_DIR at a folder that has them."
        )
    return _load_idx_folder(folder, ds) if ds.file_format == "idx" else _load_cifar_folder(folder, ds)


def _load_keras(ds: DatasetSpec):
    import keras

    (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, ds.keras_loader).load_data()
    fix = lambda x: x[..., None] if x.ndim == 3 else x  # noqa: E731
    return [(fix(x_train), y_train.reshape(-1).astype(np.uint8)),
            (fix(x_test), y_test.reshape(-1).astype(np.uint8))]


def load(name: str, data_dir: str | os.PathLike | None = None) -> Loaded:
    """Load a dataset as uint8 ``(N, H, W, C)`` images and uint8 labels, official splits.

    Raises :class:`course.errors.DataError` naming every place tried when no source
    has the dataset, and naming the file when a file is truncated or corrupt.
    """
    ds = spec(name)
    if ds.file_format == "derived":
        return mnist_m(data_dir=data_dir)
    if ds.file_format == "synthetic":
        train = synthetic_digits(10_000, seed=0)
        test = synthetic_digits(2_000, seed=1)
        return Loaded(train, test, name=name, source="built-in synthetic digits",
                      class_names=ds.class_names)

    tried = []
    root, label = _data_root(data_dir)
    if root is not None:
        if not root.is_dir():
            raise DataError(
                f"{label} does not exist or is not a folder. Point it at a folder with "
                f"{'/'.join(ds.folders[:1])}/ inside (official files), or unset it."
            )
        folder = _folder_in(root, ds)
        if folder is not None:
            train, test = _load_folder(folder, ds)
            return Loaded(train, test, name=name, source=f"{label} ({folder})", class_names=ds.class_names)
        tried.append(f"{label}: no {' or '.join(s + '/' for s in ds.folders)} folder in {root}")
    else:
        tried.append("COURSE_DATA_DIR: not set")

    if ds.debian_dir is not None:
        if ds.debian_dir.is_dir() and any(ds.debian_dir.iterdir()):
            train, test = _load_idx_folder(ds.debian_dir, ds)
            return Loaded(train, test, name=name, source=f"debian ({ds.debian_dir})",
                          class_names=ds.class_names)
        tried.append(f"Debian package: {ds.debian_dir} not found")

    if ds.keras_loader:
        try:
            train, test = _load_keras(ds)
            return Loaded(train, test, name=name, source="keras.datasets", class_names=ds.class_names)
        except Exception as err:  # offline: URL errors, DNS errors, partial archives
            tried.append(f"keras.datasets.{ds.keras_loader}: {type(err).__name__}: {str(err).splitlines()[0][:160]}")

    fixes = ["set COURSE_DATA_DIR to a folder holding " + " or ".join(f"{s}/" for s in ds.folders[:1])
             + " with the official files", "connect to the internet so keras.datasets can download it"]
    if ds.debian_dir is not None:
        fixes.insert(1, "apt-get install dataset-fashion-mnist")
    fixes.append("or use --dataset synthetic_digits for an offline smoke run")
    raise DataError(
        f"Dataset {name!r} is not available. Tried, in order:\n  - " + "\n  - ".join(tried)
        + "\nTo fix: " + "; ".join(fixes) + "."
    )


# --------------------------------------------------------------------------- MNIST-M (lesson 04)

#: The datasets MNIST-M is built from: digits, then backgrounds.
MNIST_M_SOURCES = ("mnist", "cifar10")


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


def mnist_m(data_dir=None, seed: int = 0) -> Loaded:
    """MNIST-M-style colour digits, official MNIST splits, as uint8 ``(N, 28, 28, 3)`` + labels.

    Training digits are blended onto crops of CIFAR-10 *training* photos, test digits
    onto crops of CIFAR-10 *test* photos, so no photo is shared between the splits.
    Built from whatever :func:`load` finds for ``mnist`` and ``cifar10`` (so it works
    on subsets too) in about a second; nothing is written to disk.

    Note for lesson 04: the digits here are MNIST's own; a CycleGAN run must not pair
    an MNIST image with its MNIST-M twin, so it trains each domain on a different half
    of the training digits (:func:`unpaired_halves`).
    """
    digits, photos = load("mnist", data_dir=data_dir), load("cifar10", data_dir=data_dir)
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


# --------------------------------------------------------------------------- synthetic digits

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


# --------------------------------------------------------------------------- checks and pipelines


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
