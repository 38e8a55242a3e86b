"""What the course knows about each dataset: image shape, class names, where it may live."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


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
