import json

import pytest

from course.cli import main


def test_train_without_any_data_source_is_one_readable_error(no_data_env, capsys):
    code = main(["train", "cnn", "--dataset", "mnist", "--fast", "--out", str(no_data_env / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: Dataset 'mnist' is not available")
    assert "COURSE_DATA_DIR" in err and "Traceback" not in err


def test_unknown_dataset_is_a_readable_error(capsys, tmp_path):
    assert main(["train", "cnn", "--dataset", "imagenet", "--out", str(tmp_path)]) == 2
    assert "Unknown dataset 'imagenet'" in capsys.readouterr().err


def test_bad_epochs_is_a_readable_error(capsys, tmp_path):
    assert main(["train", "cnn", "--epochs", "0", "--out", str(tmp_path)]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err


def test_info_lists_every_dataset_and_its_sources(capsys, tmp_path):
    assert main(["info", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "fashion_mnist", "cifar10", "synthetic_digits", "mnist_m"):
        assert f"\n  {name}\n" in out
    assert "backend: tensorflow" in out and "backend version" in out and "gpus" in out and "home" in out
    assert "built from mnist + cifar10" in out  # mnist_m is made, not downloaded


def test_train_and_evaluate_on_synthetic_digits(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "cnn", "--dataset", "synthetic_digits", "--fast", "--epochs", "1", "--train-examples", "320",
                 "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # re-running into the same folder without --resume must not overwrite it
    assert main(["train", "cnn", "--dataset", "synthetic_digits", "--fast", "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    # evaluate measures the whole test split; train measured the fast subset of it
    assert report["test_examples"] == 2000 and report["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-3)


def test_train_dcgan_fast_writes_every_file_and_resumes(tmp_path, capsys, stand_in_evaluator):
    import numpy as np

    out = tmp_path / "gan"
    args = ["train", "dcgan", "--dataset", "synthetic_digits", "--fast", "--train-examples", "256", "--out", str(out)]
    assert main(args + ["--epochs", "1"]) == 0
    for name in ("samples.png", "samples.npz", "metrics.json", "history.csv", "generator.keras", "progress.gif",
                 "checkpoints/state.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("fid_classifier", "fid_classifier_floor", "sample_class_histogram", "images_per_second",
                "train_seconds", "epochs", "examples", "model", "dataset"):
        assert key in metrics, key
    assert metrics["fid_classifier"] > metrics["fid_classifier_floor"] >= 0
    assert abs(sum(metrics["sample_class_histogram"].values()) - 1) < 1e-3
    samples = np.load(out / "samples.npz")["samples"]
    assert samples.dtype == np.uint8 and samples.shape == (metrics["samples"], 28, 28, 1)
    grid_before = (out / "frames" / "epoch-0001.png").read_bytes()

    assert main(args + ["--epochs", "2", "--resume"]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2
    assert (out / "frames" / "epoch-0001.png").read_bytes() == grid_before
    assert (out / "frames" / "epoch-0002.png").is_file()


def test_train_vae_fast_writes_every_file(tmp_path, capsys):
    out = tmp_path / "vae"
    assert main(["train", "vae", "--dataset", "synthetic_digits", "--fast", "--latent-dim", "2", "--iwae-k", "4",
                 "--epochs", "1", "--out", str(out)]) == 0
    for name in ("samples.png", "latent_map.png", "latent_grid.png", "reconstructions.png", "metrics.json",
                 "history.csv", "encoder.keras", "decoder.keras", "checkpoints/state.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["latent_dim"] == 2 and metrics["iwae_k"] == 4
    assert metrics["test_neg_elbo_nats"] == pytest.approx(metrics["test_recon_nats"] + metrics["test_kl_nats"],
                                                          abs=0.01)
    assert 0 < metrics["test_iwae_nats"] < metrics["test_neg_elbo_nats"] + 1
    assert metrics["test_nll_nats"] == metrics["test_neg_elbo_nats"]  # the old name, readable for one release


def test_model_specific_flags_are_refused_elsewhere(capsys, tmp_path):
    assert main(["train", "cnn", "--latent-dim", "2", "--out", str(tmp_path)]) == 2
    assert "--latent-dim does not apply to cnn" in capsys.readouterr().err
    assert main(["train", "vae", "--beta", "-1", "--out", str(tmp_path)]) == 2
    assert "--beta must not be negative" in capsys.readouterr().err


def test_a_missing_dependency_is_one_readable_error():
    import subprocess
    import sys

    script = "import sys; sys.modules['keras'] = None; from course.cli import main; sys.exit(main(['info']))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "keras is not installed" in out.stderr and "pip install -r requirements.txt" in out.stderr
    assert "Traceback" not in out.stderr


def test_every_recipe_setting_is_a_flag_with_its_choices(capsys):
    """The flags come from each job's TrainConfig, so no setting is out of reach of the command line."""
    with pytest.raises(SystemExit):
        main(["train", "cyclegan", "--help"])
    text = capsys.readouterr().out
    for flag in ("--generator {unet,resnet}", "--cycle-weight-b", "--identity-weight", "--pool-size",
                 "--jit-compile {gpu,always,never}", "--epochs", "--resume", "--out"):
        assert flag in text, flag
    assert "lambda of the B->A->B round trip" in text  # the comment beside the field is its help


def test_configs_refuse_bad_settings_by_name():
    from course.errors import CourseError
    from course.jobs import cnn, cyclegan, vae

    with pytest.raises(CourseError, match="--augment must be one of none, shift, affine, flip, flip_shift"):
        cnn.TrainConfig(augment="sideways")
    with pytest.raises(CourseError, match="--identity-weight must not be negative"):
        cyclegan.TrainConfig(identity_weight=-1.0)
    with pytest.raises(CourseError, match="--latent-dim must be int"):
        vae.TrainConfig(latent_dim="32")
    with pytest.raises(CourseError, match="--learning-rate must be positive"):
        vae.TrainConfig(learning_rate=0.0)
    assert vae.TrainConfig(beta=2).beta == 2.0 and isinstance(vae.TrainConfig(beta=2).beta, float)
    assert cnn.TrainConfig(dataset="fashion_mnist", augment=None).augment == "flip"  # None: the dataset's, filled in
