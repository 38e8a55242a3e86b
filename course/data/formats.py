"""The official file formats, read and checked: IDX (MNIST, Fashion-MNIST) and CIFAR-10's python batches.

Every reader validates what it reads (magic numbers, header against size, image and
label counts) and raises :class:`course.errors.DataError` naming the file and the fix.
"""
from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .specs import DatasetSpec

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


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
        f"Copy all four official IDX files ({', '.join(f + '.gz' for f in IDX_FILES.values())}) there."
    )


def load_idx_folder(folder: Path, ds: DatasetSpec):
    arrays = {key: read_idx(_find_file(folder, stem)) for key, stem in IDX_FILES.items()}
    out = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        img_file, lab_file = folder / IDX_FILES[f"{split}_images"], folder / IDX_FILES[f"{split}_labels"]
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


def load_cifar_folder(folder: Path, ds: DatasetSpec):
    missing = [f for f in CIFAR_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"{folder} holds part of CIFAR-10 but lacks {', '.join(missing)}. "
            "Copy the whole cifar-10-batches-py folder there."
        )
    parts = [read_cifar_batch(folder / f) for f in CIFAR_FILES[:5]]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = read_cifar_batch(folder / "test_batch")
    for split, (x, _) in (("training", train), ("test", test)):
        if len(x) == 0:
            raise DataError(f"{folder}: the {split} batches hold no images.")
    return [train, test]
