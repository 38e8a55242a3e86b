import json
import math

import keras
import numpy as np
import pytest

from course import data
from course.jobs import cnn as cnn_job
from course.models import cnn


@pytest.mark.parametrize("dataset, shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_classifier_maps_images_to_ten_logits(dataset, shape):
    """Guards C1: the CNN is a classifier: images in, 10 class scores out (not an image)."""
    model = cnn.classifier_for(dataset)
    assert model.input_shape == (None, *shape)
    out = model(np.random.default_rng(0).random((3, *shape)).astype("float32"), training=False)
    assert tuple(out.shape) == (3, 10)
    # logits, not probabilities: the last layer has no softmax
    assert model.get_layer("logits").activation is keras.activations.linear
    assert cnn.feature_extractor(model).output_shape == (None, model.get_layer("features").output.shape[-1])


def test_compiled_loss_is_sparse_cross_entropy_on_logits():
    """Guards C2: integer labels need the sparse loss, and logits need from_logits=True."""
    model = cnn.compile_classifier(cnn.classifier_for("mnist"), total_steps=10)
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    assert model.loss.get_config()["from_logits"] is True


def test_batchnorm_momentum_suits_short_runs():
    """A 0.99 momentum leaves moving statistics far behind in a 2-epoch run (design doc pitfall)."""
    bns = [l for l in cnn.classifier_for("mnist")._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    assert bns and all(bn.momentum <= 0.9 for bn in bns)


def test_one_epoch_on_synthetic_digits_lowers_the_loss():
    x, y = data.synthetic_digits(2048, seed=0)
    ds = data.pipeline(x, y, batch_size=32, shuffle=True, seed=0)
    model = cnn.compile_classifier(cnn.classifier_for("synthetic_digits"), total_steps=64)
    before = model.evaluate(data.pipeline(x, y, batch_size=256), verbose=0)[0]
    model.fit(ds, epochs=1, verbose=0, shuffle=False)
    after, acc = model.evaluate(data.pipeline(x, y, batch_size=256), verbose=0)
    assert after < before - 0.3, (before, after)
    assert acc > 0.3


@pytest.mark.parametrize("kind, slack", [("shift", 0.5), ("affine", 2.0)])
def test_digits_augmentation_moves_without_mirroring_and_fills_black(kind, slack):
    """Digits are shifted (``affine``: also turned by up to ~10 degrees and scaled by up to 10%), never
    flipped (a mirrored 7 is no digit), and the uncovered border is the digits' black background, not a
    reflection of the image; inactive at inference."""
    augment = cnn.augmentation(kind, seed=0)
    x = np.zeros((64, 28, 28, 1), "float32")
    x[:, 10:18, 4:8] = 1.0  # a bar near the left edge
    moved = keras.ops.convert_to_numpy(augment(x, training=True))
    cols = (moved[..., 0].sum(axis=1) * np.arange(28)).sum(axis=1) / moved[..., 0].sum(axis=(1, 2))
    assert np.all(np.abs(cols - 5.5) <= 0.1 * 28 + slack), cols  # a flip would put it near column 22
    assert np.ptp(cols) > 1.0  # and it does move
    full = keras.ops.convert_to_numpy(augment(np.ones((64, 28, 28, 1), "float32"), training=True))
    assert full.min() == 0.0 and full.mean() < 0.99  # the border is filled with black
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(augment(x, training=False)), x)
    with pytest.raises(ValueError, match="none, shift, affine, flip or flip_shift"):
        cnn.augmentation("rotate")


def test_affine_augmentation_turns_digits():
    """``affine`` turns a horizontal bar (a shift alone never tilts it), by a few degrees, not tens."""
    augment = cnn.augmentation("affine", seed=0)
    x = np.zeros((64, 28, 28, 1), "float32")
    x[:, 13:15, 4:24] = 1.0  # a horizontal bar through the centre
    out = keras.ops.convert_to_numpy(augment(x, training=True))[..., 0]
    rows, cols = np.arange(28)[:, None], np.arange(28)[None, :]
    slopes = []
    for image in out:  # least-squares slope of the bar's pixels, row against column
        w = image / image.sum()
        mr, mc = (w * rows).sum(), (w * cols).sum()
        slopes.append((w * (rows - mr) * (cols - mc)).sum() / (w * (cols - mc) ** 2).sum())
    degrees = np.degrees(np.arctan(np.abs(slopes)))
    assert degrees.max() > 3.0, degrees  # it turns
    assert degrees.max() < 13.0, degrees  # by about 10 degrees at most


def test_validation_split_is_disjoint_from_training():
    """Guards C3: curves are drawn on held-out images, the test set is touched once at the end."""
    x = np.arange(100).reshape(100, 1, 1, 1)
    y = np.arange(100)
    (xf, yf), (xv, yv) = data.split(x, y, 0.1, seed=0)
    assert len(xv) == 10 and len(xf) == 90
    assert not set(yf.tolist()) & set(yv.tolist())
    np.testing.assert_array_equal(xf.ravel(), yf)


def test_train_writes_a_complete_run_folder_and_resumes(tmp_path):
    """Guards C3 too: a run reports accuracy on the separate test split."""
    cfg = cnn_job.TrainConfig(dataset="synthetic_digits", epochs=2, fast=True)
    first = cnn_job.train(cfg, tmp_path, verbose=0)
    for name in ("metrics.json", "history.csv", "model.keras", "curves.png", "confusion_matrix.png",
                 "checkpoints/state.json"):
        assert (tmp_path / name).is_file(), name
    for key in ("model", "dataset", "epochs", "train_seconds", "images_per_second", "examples",
                "test_accuracy", "test_loss"):
        assert key in first
    assert first["epochs"] == 2 and first["test_examples"] == 2000 and first["examples"] == 2700

    # the same settings again: nothing left to train, the same figures
    second = cnn_job.train(cfg, tmp_path, resume=True, verbose=0)
    assert second["epochs"] == 2 and second["test_accuracy"] == first["test_accuracy"]
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["1", "2"]
    assert second["test_accuracy"] > 0.5
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 2
    # the saved model loads with safe mode on and predicts the same logits
    reloaded = cnn_job.load_classifier(tmp_path)
    xs = data.synthetic_digits(8, seed=9)[0].astype("float32") / 255
    assert reloaded(xs).shape == (8, 10)
    assert math.isfinite(second["images_per_second"])


def test_train_examples_caps_the_training_images(tmp_path):
    cfg = cnn_job.TrainConfig(dataset="synthetic_digits", epochs=1, batch_size=32, train_examples=200,
                              validation_fraction=0.0)
    metrics = cnn_job.train(cfg, tmp_path / "run", verbose=0)
    assert metrics["examples"] == 200 and metrics["test_examples"] == 2000
