import gzip
import pickle

import keras
import numpy as np
import pytest

from conftest import write_cifar_folder, write_idx, write_mnist_folder
from course import data
from course.errors import DataError, ShapeError


def test_mnist_folder_loads_official_format_with_any_count(tmp_path):
    arrays = write_mnist_folder(tmp_path / "mnist", n_train=17, n_test=5)
    (x, y), (xt, yt) = loaded = data.load("mnist", data_dir=tmp_path)
    assert x.shape == (17, 28, 28, 1) and x.dtype == np.uint8
    assert xt.shape == (5, 28, 28, 1) and yt.shape == (5,)
    np.testing.assert_array_equal(x[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(yt, arrays["t10k-labels-idx1-ubyte"])
    assert "data_dir" in loaded.source and loaded.class_names[3] == "3"


def test_course_data_dir_is_used(tmp_path, monkeypatch):
    write_mnist_folder(tmp_path / "mnist")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data.load("mnist").source.startswith("COURSE_DATA_DIR")


def test_uncompressed_idx_files_are_read(tmp_path):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "imgs", arr, compress=False)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "imgs"), arr)


def test_truncated_gzip_names_the_file(tmp_path):
    write_mnist_folder(tmp_path / "mnist")
    f = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:200])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*truncated or corrupt"):
        data.load("mnist", data_dir=tmp_path)


def test_header_promising_more_data_than_the_file_holds(tmp_path):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\0" * 100)
    with pytest.raises(DataError, match=r"x.gz: the header promises \(5, 28, 28\)"):
        data.read_idx(path)


def test_wrong_magic_number(tmp_path):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"PK\x03\x04" + b"\0" * 50)
    with pytest.raises(DataError, match="not an IDX file"):
        data.read_idx(path)


def test_empty_file(tmp_path):
    (tmp_path / "e").write_bytes(b"")
    with pytest.raises(DataError, match="empty or truncated"):
        data.read_idx(tmp_path / "e")


def test_image_and_label_counts_must_match(tmp_path):
    write_mnist_folder(tmp_path / "mnist", n_train=20)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(19))
    with pytest.raises(DataError, match="20 train images but 19 train labels"):
        data.load("mnist", data_dir=tmp_path)


def test_swapped_files_are_caught(tmp_path):
    write_mnist_folder(tmp_path / "mnist")
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros((20, 28, 28)))
    with pytest.raises(DataError, match="expected labels"):
        data.load("mnist", data_dir=tmp_path)


def test_empty_data_folder(tmp_path):
    (tmp_path / "mnist").mkdir()
    with pytest.raises(DataError, match="is empty"):
        data.load("mnist", data_dir=tmp_path)


def test_missing_file_is_named(tmp_path):
    write_mnist_folder(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        data.load("mnist", data_dir=tmp_path)


def test_cifar_batches_load_with_channels_last(tmp_path):
    written = write_cifar_folder(tmp_path / "cifar-10-batches-py", n=4)
    (x, y), (xt, yt) = data.load("cifar10", data_dir=tmp_path)
    assert x.shape == (20, 32, 32, 3) and xt.shape == (4, 32, 32, 3) and y.dtype == np.uint8
    raw, labels = written["data_batch_1"]
    # official layout: 1024 red values, then 1024 green, then 1024 blue, each row-major
    assert x[0, 0, 1, 0] == raw[0, 1] and x[0, 0, 1, 1] == raw[0, 1024 + 1] and x[0, 2, 0, 2] == raw[0, 2048 + 64]
    assert list(y[:4]) == labels


def test_cifar_corrupt_batch_names_the_file(tmp_path):
    write_cifar_folder(tmp_path / "cifar-10-batches-py")
    f = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    f.write_bytes(f.read_bytes()[:300])
    with pytest.raises(DataError, match="data_batch_3.*truncated or corrupt"):
        data.load("cifar10", data_dir=tmp_path)


def test_cifar_pickle_cannot_run_code(tmp_path):
    write_cifar_folder(tmp_path / "cifar-10-batches-py")

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError, match="test_batch"):
        data.load("cifar10", data_dir=tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_cifar_wrong_keys(tmp_path):
    write_cifar_folder(tmp_path / "cifar-10-batches-py")
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"images": np.zeros((2, 3072), np.uint8)}, f)
    with pytest.raises(DataError, match="lacks the keys"):
        data.load("cifar10", data_dir=tmp_path)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(DataError, match="Unknown dataset 'mnsit'.*mnist, fashion_mnist, cifar10"):
        data.load("mnsit")


def test_no_source_names_every_place_tried_and_the_fix(no_data_env):
    with pytest.raises(DataError) as err:
        data.load("fashion_mnist")
    message = str(err.value)
    assert "COURSE_DATA_DIR" in message and "no-debian" in message and "keras.datasets" in message
    assert "apt-get install dataset-fashion-mnist" in message and "synthetic_digits" in message


def test_data_dir_without_the_dataset_is_not_silently_replaced(no_data_env, tmp_path):
    write_mnist_folder(tmp_path / "mnist")  # MNIST present, Fashion-MNIST asked for
    with pytest.raises(DataError, match="fashion-mnist/ or fashion_mnist/"):
        data.load("fashion_mnist", data_dir=tmp_path)


@pytest.mark.skipif(not data.DEBIAN_FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_is_complete_and_found_without_course_data_dir(monkeypatch):
    """The README's Fashion-MNIST figures are on the complete set, from Debian's package (CI installs it)."""
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    loaded = data.load("fashion_mnist")
    (x_train, y_train), (x_test, y_test) = loaded.train, loaded.test
    assert loaded.source.startswith("debian") and x_train.shape == (60_000, 28, 28, 1) and x_test.shape == (10_000, 28, 28, 1)
    assert x_train.dtype == np.uint8 and x_train.max() == 255
    assert np.bincount(y_train, minlength=10).tolist() == [6_000] * 10  # every class complete
    assert np.bincount(y_test, minlength=10).tolist() == [1_000] * 10


def test_course_data_dir_that_does_not_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "typo"))
    with pytest.raises(DataError, match="does not exist"):
        data.load("mnist")


def test_sources_report_without_loading(tmp_path):
    write_mnist_folder(tmp_path / "mnist")
    rows = data.sources("mnist", data_dir=tmp_path)
    assert rows[0]["status"] == "files present" and rows[-1]["source"] == "keras.datasets"


def test_synthetic_digits_are_deterministic_and_balanced():
    x1, y1 = data.synthetic_digits(200, seed=5)
    x2, y2 = data.synthetic_digits(200, seed=5)
    x3, _ = data.synthetic_digits(200, seed=6)
    assert x1.shape == (200, 28, 28, 1) and x1.dtype == np.uint8
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert np.bincount(y1, minlength=10).tolist() == [20] * 10
    # digits are ink on black with an MNIST-like amount of ink
    assert x1[:, :2].mean() < 5 and 20 < x1.mean() < 80


def test_synthetic_digits_only_by_name():
    loaded = data.load("synthetic_digits")
    assert loaded.source.startswith("built-in") and loaded.train[0].shape == (10_000, 28, 28, 1)


@pytest.mark.parametrize("shape, hint", [
    ((4, 28, 28), "channel axis"),
    ((4, 784), "Reshape"),
    ((4, 1, 28, 28), "channels come first"),
    ((28, 28, 1), "batch axis"),
    ((4, 32, 32, 3), "expects a batch of shape"),
])
def test_check_images_explains_the_fix(shape, hint):
    with pytest.raises(ShapeError, match=hint):
        data.check_images(np.zeros(shape, np.uint8), (28, 28, 1))


def test_check_images_rejects_strings_and_accepts_good_batches():
    data.check_images(np.zeros((2, 28, 28, 1), np.uint8), (28, 28, 1))
    data.check_images(np.zeros((2, 28, 28, 1), np.float32), (28, 28, 1))
    with pytest.raises(ShapeError, match="dtype"):
        data.check_images(np.zeros((2, 28, 28, 1), dtype=object), (28, 28, 1))


def epoch(pipeline) -> list:
    """One epoch of a course pipeline as NumPy, whichever backend made it (tf.data or a PyDataset)."""
    if isinstance(pipeline, keras.utils.PyDataset):
        pipeline.on_epoch_begin()
        batches = [pipeline[i] for i in range(len(pipeline))]
        pipeline.on_epoch_end()
    else:
        batches = list(pipeline)
    return [tuple(map(keras.ops.convert_to_numpy, b)) if isinstance(b, tuple) else keras.ops.convert_to_numpy(b)
            for b in batches]


def test_pipeline_scales_batches_and_casts_labels():
    x = np.array([0, 255] * 5, np.uint8).reshape(10, 1, 1, 1)
    y = np.arange(10, dtype=np.uint8)
    xb, yb = epoch(data.pipeline(x, y, batch_size=4))[0]
    assert xb.shape == (4, 1, 1, 1) and xb.dtype.name == "float32" and yb.dtype.name == "int32"
    assert float(xb.min()) == 0.0 and float(xb.max()) == 1.0
    sym = epoch(data.pipeline(x, batch_size=10, scale="symmetric"))[0]
    assert sym.min() == -1.0 and sym.max() == 1.0
    np.testing.assert_array_equal(data.from_symmetric(sym), x)


def test_pipeline_shuffles_every_epoch_reproducibly():
    x = np.arange(32, dtype=np.uint8).reshape(32, 1, 1, 1)
    ds = data.pipeline(x, batch_size=32, shuffle=True, seed=1, scale="unit")
    first, second = [np.round(epoch(ds)[0].ravel() * 255).astype(int).tolist() for _ in range(2)]
    assert sorted(first) == list(range(32)) and first != second
    again = data.pipeline(x, batch_size=32, shuffle=True, seed=1, scale="unit")
    assert np.round(epoch(again)[0].ravel() * 255).astype(int).tolist() == first  # the same seed, the same order


def test_the_numpy_batches_are_the_tf_data_batches():
    """Off TensorFlow the pipeline is a PyDataset of NumPy batches: same order, same values, same labels."""
    x = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1)
    twin = data.ArrayBatches(x, np.arange(50), batch_size=8, order=data.EpochOrder(50, 4), scale="symmetric",
                             drop_remainder=True)
    ours = data.pipeline(x, np.arange(50), batch_size=8, shuffle=True, seed=4, scale="symmetric", drop_remainder=True)
    for a, b in zip(epoch(twin), epoch(ours)):
        np.testing.assert_allclose(a[0], b[0]) and np.testing.assert_array_equal(a[1], b[1])
    assert len(epoch(twin)) == 6
