import math

import numpy as np
import pytest

from course import losses, metrics


def test_non_saturating_and_minimax_generator_losses_on_a_hand_made_case():
    """Guards G7: G's loss has no real-data term; the two forms have the algebra right."""
    fake_logits = np.array([[0.0], [math.log(3.0)]], "float32")  # sigmoid: 0.5 and 0.75
    ns = float(losses.generator_loss(fake_logits, "non_saturating"))
    assert ns == pytest.approx((-math.log(0.5) - math.log(0.75)) / 2, rel=1e-5)
    minimax = float(losses.generator_loss(fake_logits, "minimax"))
    assert minimax == pytest.approx((math.log(0.5) + math.log(0.25)) / 2, rel=1e-5)
    with pytest.raises(ValueError, match="non_saturating"):
        losses.generator_loss(fake_logits, "wasserstein")


def test_discriminator_loss_labels_real_as_real_and_fakes_as_fake():
    """Guards G6/G7: D minimises a cross-entropy that is small when it is right."""
    confident_right = float(losses.discriminator_loss(np.array([[5.0]]), np.array([[-5.0]])))
    confident_wrong = float(losses.discriminator_loss(np.array([[-5.0]]), np.array([[5.0]])))
    assert confident_right < 0.02 < 10 < confident_wrong
    value = float(losses.discriminator_loss(np.array([[math.log(3.0)]]), np.array([[-math.log(3.0)]])))
    assert value == pytest.approx(-2 * math.log(0.75), rel=1e-5)
    smoothed = float(losses.discriminator_loss(np.array([[math.log(3.0)]]), np.array([[-math.log(3.0)]]), 0.9))
    assert smoothed == pytest.approx(-0.9 * math.log(0.75) - 0.1 * math.log(0.25) - math.log(0.75), rel=1e-5)


def test_frechet_distance_matches_the_closed_form():
    # sets whose sample covariances are exactly diagonal: the closed form is
    # |mu_a - mu_b|^2 + sum_i (sigma_a,i - sigma_b,i)^2
    a = np.array([[2.0, 0], [-2.0, 0], [0, 1.0], [0, -1.0]])
    b = np.array([[1.0, 0], [-1.0, 0], [0, 3.0], [0, -3.0]]) + np.array([1.0, -2.0])
    var_a, var_b = np.var(a, axis=0, ddof=1), np.var(b, axis=0, ddof=1)
    expected = 1.0 + 4.0 + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert metrics.frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_with_correlated_features_against_a_direct_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0.3], [0, 0, 1]])
    b = rng.normal(size=(400, 3)) * 2 + 1
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eig(ca @ cb)  # tr sqrt(Ca Cb) = sum sqrt(eigenvalues of Ca Cb)
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca + cb) - 2 * np.sum(np.sqrt(vals.real))
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(600, 8)), rng.normal(size=(600, 8))
    same = metrics.kernel_inception_distance(a, b, subset_size=300)
    shifted = metrics.kernel_inception_distance(a, b + 1.0, subset_size=300)
    assert abs(same) < 0.05 < shifted


def test_class_histogram_counts_fractions():
    hist = metrics.class_histogram(np.array([0, 0, 1, 3]), ["a", "b", "c", "d"])
    assert hist == {"a": 0.5, "b": 0.25, "c": 0.0, "d": 0.25}


def test_inception_fid_is_reported_or_its_absence_explained(monkeypatch):
    from course.jobs import dcgan

    images = np.zeros((4, 32, 32, 3), np.uint8)
    monkeypatch.setattr(dcgan, "inception_features", lambda x: (None, "weights could not be loaded (offline)"))
    missing = dcgan._inception_fid(images, images)
    assert missing["fid_inception"] is None and "offline" in missing["fid_inception_note"]
    assert "only fid_classifier" in missing["fid_inception_note"]

    rng = np.random.default_rng(0)
    monkeypatch.setattr(dcgan, "inception_features", lambda x: (rng.normal(size=(len(x), 3)), ""))
    present = dcgan._inception_fid(images, images)
    assert present["fid_inception"] >= 0 and "4 samples vs 4 real" in present["fid_inception_note"]


def test_apply_in_batches_matches_predict_and_refuses_nothing():
    import keras

    from course.evaluation import predict_classes
    from course.models.base import apply_in_batches

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(7, 3)).astype("float32")
    np.testing.assert_allclose(apply_in_batches(model, x, batch_size=3), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert predict_classes(model, x, batch_size=2).shape == (7,)
    with pytest.raises(ValueError, match="empty"):
        apply_in_batches(model, x[:0])


def test_the_frechet_distance_shrinks_with_the_sample_so_a_floor_must_use_the_same_size():
    """Lesson 02: two samples of one distribution are 'far apart' when small; compare at equal n only."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4000, 8)), rng.normal(size=(4000, 8))
    small, large = metrics.frechet_distance(a[:100], b[:100]), metrics.frechet_distance(a, b)
    assert small > 5 * large > 0
    spread = metrics.frechet_distance_subsets(a, b, n=100, repeats=4, seed=1)
    assert spread.shape == (4,) and spread.std() > 0 and abs(spread.mean() - small) < 3 * spread.std() + 0.2
    with pytest.raises(ValueError, match="more than the smaller set"):
        metrics.frechet_distance_subsets(a, b[:50], n=100)


def test_kid_subsets_differ_even_when_the_sets_are_small():
    """In fast mode the sets are smaller than the default subset: the subsets must still differ."""
    rng = np.random.default_rng(0)
    same = metrics.kid_subsets(rng.normal(size=(600, 8)), rng.normal(size=(600, 8)), subsets=6)
    shifted = metrics.kid_subsets(rng.normal(size=(600, 8)), rng.normal(1.0, 1.0, size=(600, 8)), subsets=6)
    assert same.std() > 0 and len(set(np.round(same, 12))) == 6
    assert abs(same.mean()) < 3 * same.std() + 1e-3 < shifted.mean()
    assert metrics.kernel_inception_distance(rng.normal(size=(600, 8)), rng.normal(size=(600, 8))) < 0.05
