"""Where each dataset is found, in order, and the one ``load`` that reads it.

1. ``data_dir=`` if given, else ``$COURSE_DATA_DIR``: the official file formats
   (IDX ``.gz`` for MNIST / Fashion-MNIST, python batches for CIFAR-10), any record count;
2. Debian's ``/usr/share/datasets/fashion-mnist`` for Fashion-MNIST;
3. ``keras.datasets`` (its cache, else a download).

The first source that holds the dataset wins; a file that is there but broken is an
error, never a reason to use other data. ``synthetic_digits`` are used only when asked
for by name; ``mnist_m`` is built from MNIST and CIFAR-10 (:mod:`course.data.mnist_m`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import mnist_m as _mnist_m
from .formats import load_cifar_folder, load_idx_folder
from .specs import DatasetSpec, Loaded, spec
from .synthetic import synthetic_digits


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
        parts = {part: any(r["status"] in usable for r in sources(part, data_dir)) for part in _mnist_m.SOURCES}
        missing = [part for part, ok in parts.items() if not ok]
        return [{"source": "built from " + " + ".join(_mnist_m.SOURCES), "where": "course.data.build_mnist_m",
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
    return load_idx_folder(folder, ds) if ds.file_format == "idx" else load_cifar_folder(folder, ds)


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
        return _mnist_m.from_sources(*(load(part, data_dir=data_dir) for part in _mnist_m.SOURCES))
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
            train, test = load_idx_folder(ds.debian_dir, ds)
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


def fingerprint(name: str, *arrays: np.ndarray) -> dict:
    """What a run trains on, in a few fields: the dataset, the size of each array, and a digest
    of their bytes. Two runs on the same images have the same fingerprint wherever the files
    lie; a different subset, order or release of the data changes it."""
    import hashlib

    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    return {"dataset": name, "sizes": [int(len(a)) for a in arrays], "sha256": digest.hexdigest()[:16]}
