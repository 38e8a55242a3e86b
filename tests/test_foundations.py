"""Lesson 00: linear and logistic regression, PCA and label propagation, each on a case where the
source material's mistake gives a measurably wrong answer."""
import keras
import numpy as np
import pytest
from keras import ops

from course import backend, checks, foundations as fd
from course.errors import CourseError, ShapeError


def _regression_case(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 1.0, (n, 2))  # features far from 0: the intercept matters
    y = x @ np.array([2.0, -1.0]) + 5.0 + rng.normal(0, 0.1, n)
    return x, y


def test_linear_regression_solves_intercept_and_slopes_together():
    """Guards F1: the least-squares solution on [1, x], not an intercept estimated from residuals."""
    x, y = _regression_case()
    w, b = fd.linear_regression(x, y)
    reference, *_ = np.linalg.lstsq(np.c_[np.ones(len(x)), x], y, rcond=None)
    np.testing.assert_allclose([b, *w], reference, atol=1e-8)
    # the mistake: slopes through the origin, then the mean residual as the intercept
    w_origin, *_ = np.linalg.lstsq(x, y, rcond=None)
    b_residual = float(np.mean(y - x @ w_origin))
    mse = lambda w_, b_: float(np.mean((x @ w_ + b_ - y) ** 2))  # noqa: E731
    assert np.max(np.abs(w_origin - w)) > 0.3
    assert mse(w_origin, b_residual) > 5 * mse(w, b)


def test_gradient_descent_reaches_the_least_squares_solution():
    x, y = _regression_case()
    mean, std = x.mean(0), x.std(0)
    w_s, b_s = fd.linear_regression_gd((x - mean) / std, y, steps=300, learning_rate=0.3)
    w, b = w_s / std, b_s - float(np.sum(w_s * mean / std))  # back to the original units
    w_ref, b_ref = fd.linear_regression(x, y)
    np.testing.assert_allclose(w, w_ref, atol=1e-3)
    assert abs(b - b_ref) < 1e-2


def test_logistic_gradient_matches_automatic_differentiation():
    """Guards F2: the cross-entropy gradient X^T(p - y)/n, with shapes (n, 1), equals autodiff's."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 3)).astype("float32")
    y = (rng.uniform(size=(50, 1)) < 0.5).astype("float32")
    w = keras.Variable(rng.normal(size=(3, 1)).astype("float32"))
    b = keras.Variable(np.array([0.3], "float32"))
    _, (gw, gb) = backend.value_and_grad(lambda: fd.logistic_loss(w, b, x, y), [w, b])
    aw, ab = fd.logistic_gradient(ops.convert_to_numpy(w), ops.convert_to_numpy(b), x, y)
    np.testing.assert_allclose(aw, ops.convert_to_numpy(gw), atol=1e-5)
    np.testing.assert_allclose(ab, ops.convert_to_numpy(gb), atol=1e-5)
    # the mistake's gradient (MSE without the sigmoid's derivative, y as (n,)) is another vector
    p = 1 / (1 + np.exp(-(x @ ops.convert_to_numpy(w) + 0.3)))
    wrong = x.T @ (p - y[:, 0]) / len(x)  # (50, 1) - (50,) broadcasts to (50, 50)
    assert wrong.shape != aw.shape


def test_logistic_regression_needs_labels_in_0_1_and_separates_two_classes():
    """Guards F2: labels outside {0, 1} are refused; the fit classifies."""
    rng = np.random.default_rng(2)
    x = np.r_[rng.normal(-2, 1, (100, 2)), rng.normal(2, 1, (100, 2))]
    y = np.r_[np.zeros(100), np.ones(100)]
    w, b = fd.logistic_regression(x, y, steps=200)
    assert np.mean(((x @ w + b) > 0) == y) > 0.95
    with pytest.raises(CourseError, match=r"labels in \{0, 1\}"):
        fd.logistic_regression(x, 2 * y - 1)
    # from logits: a huge logit gives a finite loss
    loss = fd.logistic_loss(np.array([[100.0]], "float32"), np.zeros(1, "float32"), np.ones((1, 1), "float32"),
                            np.zeros((1, 1), "float32"))
    assert np.isfinite(float(ops.convert_to_numpy(loss))) and float(ops.convert_to_numpy(loss)) > 90


def _low_rank_images(n=300, seed=0):
    """Images that lie near a 3-D subspace: PCA with 3 components rebuilds them almost exactly."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(14 * 14, 3)))
    codes = rng.normal(size=(n, 3)) * np.array([3.0, 2.0, 1.0])
    return (codes @ basis.T + 0.01 * rng.normal(size=(n, 14 * 14))).reshape(n, 14, 14) + 0.5


def test_pca_transforms_images_of_the_fitted_shape_and_refuses_others():
    """Guards F3: PCA fitted on flattened images transforms test images flattened the same way."""
    images = _low_rank_images()
    pca = fd.ImagePCA(3).fit(images[:200])
    codes = pca.transform(images[200:])
    assert codes.shape == (100, 3)
    rebuilt = pca.reconstruct(images[200:])
    assert rebuilt.shape == images[200:].shape
    assert np.mean((rebuilt - images[200:]) ** 2) < 1e-2 * np.var(images)  # only the noise is left
    assert pca.explained_variance_ratio.sum() > 0.99
    with pytest.raises(ShapeError, match=r"\(7, 7\).*\(14, 14\)"):
        pca.transform(images[:5, :7, :7])


def test_a_linear_autoencoder_learns_the_pca_subspace():
    images = _low_rank_images(400)
    rows = fd.flatten_images(images)
    pca = fd.ImagePCA(3).fit(images)
    model = fd.linear_autoencoder(rows.shape[1], 3)
    model.fit(rows, rows, epochs=150, batch_size=50, verbose=0)
    encoder = ops.convert_to_numpy(model.get_layer("decode").kernel)  # (3, pixels): the spanned directions
    assert fd.subspace_overlap(encoder, pca.components) > 0.95
    random = np.random.default_rng(0).normal(size=(3, rows.shape[1]))
    assert fd.subspace_overlap(random, pca.components) < 0.2


def test_subspace_overlap_is_one_for_mixed_bases_and_zero_for_orthogonal_ones():
    eye = np.eye(6)
    mix = np.array([[1.0, 2.0], [0.5, -1.0]])
    assert fd.subspace_overlap(mix @ eye[:2], eye[:2]) == pytest.approx(1.0)
    assert fd.subspace_overlap(eye[:2], eye[2:4]) == pytest.approx(0.0, abs=1e-12)


def test_label_propagation_classifies_from_a_few_marked_labels():
    """Guards F4: a classification with the unlabelled points marked -1, one label per point."""
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0], [6, 0], [0, 6]])
    labels = np.repeat(np.arange(3), 60)
    features = centres[labels] + rng.normal(0, 0.7, (180, 2))
    partial = fd.hide_labels(labels, 6, seed=0)
    assert np.sum(partial != fd.UNLABELLED) == 6 and set(partial[partial != -1]) == {0, 1, 2}
    model = fd.propagate_labels(features, partial)
    assert np.mean(model.transduction_ == labels) > 0.95
    with pytest.raises(CourseError, match="integer classes"):
        fd.hide_labels(features[:, 0], 6)  # continuous targets: regression, not label propagation
    with pytest.raises(CourseError, match="unlabelled"):
        fd.propagate_labels(features, labels)  # nothing marked -1
    with pytest.raises(ShapeError, match="one label per point"):
        fd.propagate_labels(features, partial[:100])


@pytest.mark.parametrize("check, right, wrong", [
    ("check_linear_regression", fd.linear_regression,
     lambda x, y: (np.linalg.lstsq(x, y, rcond=None)[0], float(np.mean(y - x @ np.linalg.lstsq(x, y, rcond=None)[0])))),
    ("check_logistic_gradient", fd.logistic_gradient,
     lambda w, b, x, y: (x.T @ (1 / (1 + np.exp(-(x @ w + b)))[:, 0] - y.reshape(-1)) / len(x), np.zeros(1))),
    ("check_flatten_images", fd.flatten_images, lambda images, image_shape=None: np.asarray(images).reshape(-1, 2)),
    ("check_hide_labels", fd.hide_labels,
     lambda labels, labelled, seed=0: np.where(np.arange(len(labels)) < labelled, labels, 0)),
])
def test_the_lesson_00_checks_accept_the_course_answer_and_reject_the_mistake(check, right, wrong, capsys):
    fn = getattr(checks, check)
    assert fn(right) is right
    assert "correct" in capsys.readouterr().out
    fallback = fn(wrong)
    assert fallback is not wrong
    assert "not right yet" in capsys.readouterr().out
