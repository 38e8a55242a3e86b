"""Lesson 05: the measures of generated images on cases with known answers, the detector, provenance."""
import json

import numpy as np
import pytest

from course import data, evaluation, metrics, plotting
from course.models import cnn


def _clouds(seed=0, n=300, d=8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d))


def test_precision_and_recall_on_identical_disjoint_and_collapsed_sets():
    real, other = _clouds()
    same = metrics.precision_recall(real, real.copy())
    assert same == {"precision": 1.0, "recall": 1.0}
    far = metrics.precision_recall(real, other + 50.0)
    assert far == {"precision": 0.0, "recall": 0.0}
    # a collapsed generator: every sample near one of three real points -> faithful but not diverse
    rng = np.random.default_rng(1)
    collapsed = real[rng.integers(0, 3, 300)] + 1e-3 * rng.normal(size=(300, 8))
    pr = metrics.precision_recall(real, collapsed)
    assert pr["precision"] > 0.95 and pr["recall"] < 0.1
    # a second sample of the same distribution: both high, neither perfect
    pr = metrics.precision_recall(real, other)
    assert 0.6 < pr["precision"] < 1.0 and 0.6 < pr["recall"] < 1.0


def test_knn_radii_skip_the_point_itself():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(metrics.knn_radii(points, k=1), [1.0, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(metrics.knn_radii(points, k=2), [3.0, 2.0, 3.0, 6.0])


def test_memorisation_finds_a_generator_that_copies_its_training_images():
    digits, _ = data.synthetic_digits(400, seed=0)
    train, heldout = digits[:300], digits[300:]
    noise = np.random.default_rng(0).integers(-3, 4, train[:100].shape)
    copies = np.clip(train[:100].astype(int) + noise, 0, 255).astype(np.uint8)  # re-encoded copies
    copied = metrics.memorisation(copies, train, heldout)
    assert copied["ratio"] < 0.5 and copied["near_copies"] > 0.5 and copied["verdict"] == "copies its training images"
    fresh = metrics.memorisation(heldout, train, heldout[::-1])
    assert 0.8 < fresh["ratio"] < 1.25 and fresh["verdict"] == "no sign of copying"


def test_roc_auc_is_the_ranking_probability():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    scores, labels = rng.normal(size=200).round(1), (rng.uniform(size=200) < 0.3).astype(int)  # with ties
    assert metrics.roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    assert metrics.roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert metrics.roc_auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0  # labels swapped: the worst, not the best
    with pytest.raises(ValueError, match="0 and 1"):
        metrics.roc_auc([0.1, 0.2], [0, 0])


def test_the_measures_rank_real_blurred_and_noise_images():
    """Guards E1: quality is measured, not described: on one classifier's features, real images score
    better than blurred ones, and blurred ones better than noise, by FD, KID and precision."""
    digits, _ = data.synthetic_digits(900, seed=0)
    judge = cnn.build_classifier((28, 28, 1), widths=(8, 16), convs=(1, 1))  # features of any fixed network
    real_features, _ = evaluation.classifier_features(judge, digits[:300])
    names = [str(i) for i in range(10)]
    rng = np.random.default_rng(0)
    sets = {"real": digits[300:600], "blurred": evaluation.blur(digits[300:600], 2),
            "noise": rng.integers(0, 256, (300, 28, 28, 1)).astype(np.uint8)}
    scores = {k: evaluation.score_images(v, judge, real_features, names, digits[600:], digits[:300], n=150)
              for k, v in sets.items()}
    assert scores["real"]["fd"] < scores["blurred"]["fd"] < scores["noise"]["fd"]
    assert scores["real"]["kid"] < scores["blurred"]["kid"] < scores["noise"]["kid"]
    assert scores["real"]["precision"] > scores["noise"]["precision"]
    assert scores["real"]["n"] == scores["noise"]["n"] == 150  # every set at one sample size
    assert abs(sum(scores["real"]["class_histogram"].values()) - 1.0) < 1e-3


def test_a_detector_tells_generated_from_real_and_images_say_they_were_generated(tmp_path):
    """Guards E2: practice, not just a warning: a detector of generated images is trained and measured
    on images it never saw, and the course's generated pictures carry provenance that a re-encode loses."""
    digits, _ = data.synthetic_digits(800, seed=1)
    fake = evaluation.blur(digits, 1)  # a stand-in generator whose images are smoother than real ones
    detector = evaluation.train_detector(digits[:600], fake[:600], epochs=4, batch_size=32)
    scores = evaluation.detector_scores(detector, np.concatenate([digits[600:], fake[600:]]))
    labels = np.r_[np.zeros(200), np.ones(200)]
    assert metrics.roc_auc(scores, labels) > 0.9
    assert np.all((scores >= 0) & (scores <= 1))
    path = plotting.save_png(tmp_path / "samples.png", plotting.grid_image(fake[:4]),
                             info=plotting.generated_info("DCGAN generator", tmp_path / "run-1"))
    info = plotting.read_png_info(path)
    assert info["Generated"].startswith("yes") and info["Model"] == "DCGAN generator" and info["Run"] == "run-1"
    from PIL import Image

    Image.open(path).save(tmp_path / "reencoded.png")  # what an upload or an editor does
    assert plotting.read_png_info(tmp_path / "reencoded.png") == {}


def test_a_course_run_marks_its_pictures_as_generated(tmp_path):
    from course.jobs import vae

    vae.train(vae.TrainConfig(dataset="synthetic_digits", epochs=1, fast=True, iwae_k=2), tmp_path / "run", verbose=0)
    info = plotting.read_png_info(tmp_path / "run" / "samples.png")
    assert info["Generated"].startswith("yes") and "VAE" in info["Model"] and info["Run"] == "run"
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["model"] == "vae"


@pytest.mark.parametrize("check, right, wrong", [
    ("check_knn_radii", metrics.knn_radii,
     lambda f, k: metrics.nearest_neighbours(f, f, k)[0][:, -1]),  # counts each point as its own neighbour
    ("check_roc_auc", metrics.roc_auc, lambda s, l: 1.0 - metrics.roc_auc(s, l)),  # labels the wrong way round
    ("check_roc_auc", metrics.roc_auc, lambda s, l: float(np.mean((np.asarray(s) > 0.5) == l))),  # accuracy
])
def test_the_lesson_05_checks_accept_the_course_answer_and_reject_the_mistake(check, right, wrong, capsys):
    from course import checks

    assert getattr(checks, check)(right) is right
    assert "correct" in capsys.readouterr().out
    assert getattr(checks, check)(wrong) is not wrong
    assert "not right yet" in capsys.readouterr().out


def test_evaluate_and_compare_a_run_from_the_command_line(tmp_path, monkeypatch, capsys):
    from conftest import write_mnist_folder

    from course import cli

    from course.jobs import judge

    write_mnist_folder(tmp_path / "data" / "mnist", n_train=300, n_test=300)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    # the MNIST evaluator's features, from a fixed untrained network (training one is the job of test_jobs)
    monkeypatch.setattr(judge, "evaluator", lambda *a, **k: cnn.build_classifier((28, 28, 1), widths=(8, 16),
                                                                                   convs=(1, 1)))
    monkeypatch.setenv("COURSE_HOME", str(tmp_path / "home"))
    run = tmp_path / "dcgan-run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"model": "dcgan", "dataset": "mnist", "fast": True, "epochs": 1}))
    samples = np.random.default_rng(0).integers(0, 256, (200, 28, 28, 1)).astype(np.uint8)  # a pool of 2n
    np.savez(run / "samples.npz", samples=samples)
    assert cli.main(["compare", str(run), "--out", str(tmp_path / "comparison.png")]) == 0
    out = capsys.readouterr().out
    assert "real test images" in out and "uniform noise" in out and "dcgan dcgan-run" in out
    import re

    n = int(re.search(r"every set scored at n = (\d+) images", out).group(1))  # one sample size for every row
    assert n == 75  # half of the 150 real test images the distances are taken against
    saved = json.loads((run / "evaluation.json").read_text())
    assert saved["model"] == "dcgan" and saved["n"] == n and "memorisation" in saved
    assert (tmp_path / "comparison.png").stat().st_size > 0
    assert cli.main(["evaluate", str(run)]) == 0 and '"precision"' in capsys.readouterr().out
    assert cli.main(["evaluate", str(tmp_path / "nothing")]) == 2  # no metrics.json: a clear error
    # a conditional diffusion run: its saved samples, every measure, and how often the asked digit is read
    diffusion_run = tmp_path / "diffusion-run"
    diffusion_run.mkdir()
    (diffusion_run / "metrics.json").write_text(json.dumps({
        "model": "diffusion", "dataset": "mnist", "fast": True, "epochs": 1, "sampler": "ddim", "sample_steps": 10,
        "asked_class_accuracy": 0.5, "guidance": 3.0}))
    np.savez(diffusion_run / "samples.npz", samples=samples, labels=np.arange(200) % 10)
    assert cli.main(["evaluate", str(diffusion_run)]) == 0
    saved = json.loads((diffusion_run / "evaluation.json").read_text())
    assert saved["model"] == "diffusion" and saved["sampler"] == "ddim, 10 steps" and "precision" in saved
    assert saved["asked_class_accuracy"] == 0.5 and saved["guidance"] == 3.0


def test_the_spread_draws_new_images_on_both_sides():
    """Issue 24: lesson 05's FD spread once reused the same generated images in every repeat. Scores
    use at most half of each pool, so every repeat draws n images afresh from both sets."""
    digits, _ = data.synthetic_digits(600, seed=1)
    judge = cnn.build_classifier((28, 28, 1), widths=(8, 16), convs=(1, 1))
    real_features, _ = evaluation.classifier_features(judge, digits[:300])
    names = [str(i) for i in range(10)]
    score = evaluation.score_images(digits[300:], judge, real_features, names, digits[:100], digits[100:200], n=300)
    assert score["n"] == 150  # half of each 300-image pool, not all of the generated images
    a, b = np.random.default_rng(0).normal(size=(2, 40, 3))
    draws = [metrics.frechet_distance_subsets(a, b, n=20, repeats=2, seed=s) for s in range(3)]
    assert len({round(float(d[0]), 9) for d in draws}) == 3


def test_the_detector_report_refuses_too_few_images_and_ambiguous_names():
    """Lesson 05's detector trains on 80% of the pool in batches of 64 per class and shows each set by name."""
    from types import SimpleNamespace

    from course.errors import CourseError
    from course.jobs import judge

    images = np.zeros((100, 28, 28, 1), np.uint8)
    reference = SimpleNamespace(train=images, heldout=images)
    with pytest.raises(CourseError, match="at least 80 generated images"):
        judge.detector_report(reference, images[:79], {}, held_out="held out", epochs=1)
    with pytest.raises(CourseError, match="distinct names"):
        judge.detector_report(reference, images, {"held out": images}, held_out="held out", epochs=1)
    with pytest.raises(CourseError, match="images each"):
        judge.detector_report(reference, images, {"empty": images[:0]}, held_out="held out", epochs=1)
