"""Datasets: official file formats, where they are found, synthetic digits, MNIST-M, pipelines.

Taught in 01_cnn_classifier, section Data. ``load(name)`` returns uint8 images with a
channel axis, ``(N, H, W, C)``, and integer labels, in the official train/test splits::

    (x_train, y_train), (x_test, y_test) = course.data.load("mnist")

Where each part lives:

* :mod:`.specs`     -- the datasets the course knows (shape, classes, folders);
* :mod:`.formats`   -- IDX and CIFAR-10 batch readers, with validation;
* :mod:`.loading`   -- ``load`` and ``sources``: data_dir / COURSE_DATA_DIR, Debian, keras.datasets;
* :mod:`.synthetic` -- digits rendered by the package (tests, offline smoke runs);
* :mod:`.mnist_m`   -- MNIST-M-style colour digits built from MNIST + CIFAR-10 (lesson 04);
* :mod:`.pipelines` -- shape checks, splits, pixel scaling, input pipelines.
"""
from .formats import read_cifar_batch, read_idx
from .mnist_m import background_patches, blend_digits, build_mnist_m, unpaired_halves
from .pipelines import (SCALES, ArrayBatches, EpochOrder, check_images, from_symmetric, pipeline, set_epoch, split,
                        to_domain_a, to_grey, to_symmetric, to_unit, translation_splits, unpaired_batches,
                        unpaired_domains)
from .loading import fingerprint, load, sources
from .specs import DATASETS, DEBIAN_FASHION_DIR, DIGITS, DatasetSpec, Loaded, spec
from .synthetic import synthetic_digits

__all__ = [
    "DATASETS", "DEBIAN_FASHION_DIR", "DIGITS", "ArrayBatches", "DatasetSpec", "EpochOrder", "Loaded", "SCALES",
    "background_patches", "set_epoch",
    "blend_digits", "build_mnist_m", "check_images", "fingerprint", "from_symmetric", "load", "pipeline", "read_cifar_batch",
    "read_idx", "sources", "spec", "split", "synthetic_digits", "to_domain_a", "to_grey", "to_symmetric", "to_unit",
    "translation_splits", "unpaired_batches", "unpaired_domains", "unpaired_halves",
]
