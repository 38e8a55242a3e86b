"""Shared test set-up: tiny official-format files, no ../shared needed."""
import gzip
import pickle
import struct

import numpy as np
import pytest



def write_idx(path, array: np.ndarray, compress: bool = True) -> None:
    """Write ``array`` (uint8) in the IDX format of the MNIST files."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    payload = header + array.tobytes()
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def write_mnist_folder(folder, n_train=20, n_test=10, seed=0):
    """A tiny MNIST-format folder; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for stem, arr in arrays.items():
        write_idx(folder / f"{stem}.gz", arr)
    return arrays


def write_cifar_folder(folder, n=6, seed=0):
    """A tiny CIFAR-10 python-batches folder; returns {file: (data, labels)}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * n}, f, protocol=2)
        written[name] = (data, labels)
    return written


@pytest.fixture
def no_data_env(monkeypatch, tmp_path):
    """No COURSE_DATA_DIR, no Debian folder, no keras.datasets: every source fails."""
    from course import data
    from course.data import loading

    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "no-debian")
    monkeypatch.setitem(data.DATASETS, "fashion_mnist",
                        data.DATASETS["fashion_mnist"].__class__(**{**data.DATASETS["fashion_mnist"].__dict__,
                                                                    "debian_dir": tmp_path / "no-debian"}))

    def offline(ds):
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(loading, "_load_keras", offline)
    return tmp_path


@pytest.fixture
def stand_in_evaluator(monkeypatch):
    """Train jobs score their samples with a fixed, untrained classifier of the right input shape instead
    of the cached lesson-01 evaluator: a job test checks what the job writes, not the judge (training and
    caching the evaluator is tests/test_jobs.py's part). Returns the datasets it was asked for."""
    from course import data
    from course.jobs import cyclegan as cyclegan_job, evaluators
    from course.models import cnn

    asked = []

    def judge(dataset, **_):
        asked.append(dataset)
        return cnn.build_classifier(data.spec(dataset).image_shape, widths=(8, 16), convs=(1, 1))

    monkeypatch.setattr(evaluators, "evaluator", judge)
    monkeypatch.setattr(cyclegan_job, "evaluator", judge)
    return asked
