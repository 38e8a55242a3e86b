"""Train jobs continue a run only under the settings and data its weights were trained with."""
import json
import random

import keras
import numpy as np
import pytest

from course.cli import main
from course.errors import RunFolderError
from course.jobs import cnn, evaluators, vae
from course.models import cnn as cnn_models

from conftest import write_mnist_folder


def test_resuming_on_other_data_is_refused_and_the_run_is_left_alone(tmp_path, capsys):
    write_mnist_folder(tmp_path / "data" / "mnist", n_train=120, n_test=20)
    out = tmp_path / "r"
    common = ["--train-examples", "100", "--epochs", "1", "--out", str(out)]
    assert main(["train", "cnn", "--dataset", "synthetic_digits", *common]) == 0
    before = (out / "metrics.json").read_text()
    capsys.readouterr()
    assert main(["train", "cnn", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), *common,
                 "--resume"]) == 2
    err = capsys.readouterr().err
    assert "settings.dataset: 'synthetic_digits' in the run, 'mnist' now" in err
    assert "data.sha256" in err and "Traceback" not in err
    assert "To continue it: python -m course train cnn --dataset synthetic_digits" in err
    assert (out / "metrics.json").read_text() == before


def test_a_vae_resumed_with_another_beta_is_refused(tmp_path):
    cfg = vae.TrainConfig(dataset="synthetic_digits", epochs=1, fast=True, iwae_k=2)
    vae.train(cfg, tmp_path, verbose=0)
    with pytest.raises(RunFolderError, match=r"settings\.beta: 1\.0 in the run, 5\.0 now"):
        vae.train(vae.TrainConfig(**{**cfg.__dict__, "beta": 5.0}), tmp_path, resume=True, verbose=0)
    # what is only measured may change: more samples for the bound, same weights
    again = vae.train(vae.TrainConfig(**{**cfg.__dict__, "iwae_k": 3}), tmp_path, resume=True, verbose=0)
    assert again["iwae_k"] == 3 and again["epochs"] == 1


def test_fast_resume_of_a_full_run_and_a_longer_cosine_schedule_are_refused(tmp_path):
    full = cnn.TrainConfig(dataset="synthetic_digits", epochs=1, train_examples=100)
    cnn.train(full, tmp_path, verbose=0)
    with pytest.raises(RunFolderError, match=r"settings\.fast: False in the run, True now"):
        cnn.train(cnn.TrainConfig(**{**full.__dict__, "fast": True}), tmp_path, resume=True, verbose=0)
    with pytest.raises(RunFolderError, match=r"settings\.epochs: 1 in the run, 3 now"):
        cnn.train(cnn.TrainConfig(**{**full.__dict__, "epochs": 3}), tmp_path, resume=True, verbose=0)
    assert json.loads((tmp_path / "metrics.json").read_text())["fast"] is False


def test_the_judge_is_trained_with_its_own_settings_not_the_cnn_job_s_defaults():
    """The registry's Fréchet distances were measured with this judge: a change of lesson 01's defaults
    must not retrain it differently."""
    from dataclasses import asdict, fields

    common = {"learning_rate": 2e-3, "seed": 0, "precision": "auto", "devices": None, "steps_per_execution": 1,
              "validation_fraction": 0.1, "augment": "none"}
    assert asdict(evaluators.recipe("mnist", fast=False)) == {
        **common, "dataset": "mnist", "epochs": 5, "batch_size": 128, "fast": False, "train_examples": None}
    assert asdict(evaluators.recipe("cifar10", fast=False))["epochs"] == 30
    assert asdict(evaluators.recipe("mnist", fast=True)) == {
        **common, "dataset": "mnist", "epochs": 2, "batch_size": 32, "fast": True, "train_examples": 1500}
    assert [evaluators.recipe(name, fast=False).augment for name in ("fashion_mnist", "cifar10", "mnist_m")] == [
        "flip", "flip_shift", "none"]
    # every setting that changes what the judge learns is pinned or the job's own (dataset, epochs, fast)
    learned = {f.name for f in fields(cnn.TrainConfig)} - {"devices", "steps_per_execution", "precision"}
    assert learned - set(evaluators.JUDGE_SETTINGS) <= {"dataset", "epochs", "fast", "train_examples", "augment"}
    # lesson 01's MNIST recipe is not the judge's: batches of 64, shifted digits
    lesson = cnn.TrainConfig(dataset="mnist")
    assert (lesson.batch_size, cnn_models.DATASET_AUGMENT["mnist"]) == (64, "shift")
    assert cnn.TrainConfig(dataset="fashion_mnist").batch_size == 128 == cnn.TrainConfig(dataset="mnist", batch_size=128).batch_size
    judge_model = cnn_models.classifier_for("mnist", evaluators.recipe("mnist", fast=False).augment)
    lesson_model = cnn_models.classifier_for("mnist", lesson.augment)
    assert "augment" not in [layer.name for layer in judge_model.layers]
    assert "augment" in [layer.name for layer in lesson_model.layers]
    # the continuing command of a run recorded before the defaults were filled in (augment null: MNIST's none)
    old = {"dataset": "mnist", "batch_size": 128, "augment": None}
    assert "--batch-size 128 --augment none" in cnn.CNNJob().command(old, "r")  # in the order of the settings
    assert "--batch-size" not in cnn.CNNJob().command({**old, "dataset": "fashion_mnist"}, "r")  # its defaults then and now
    assert cnn.CNNJob().command({**old, "dataset": "fashion_mnist"}, "r").startswith("python -m course train cnn --dataset fashion_mnist")


def test_the_evaluator_cache_is_keyed_by_data_and_recipe_and_leaves_random_streams_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    write_mnist_folder(tmp_path / "a" / "mnist", n_train=60, n_test=20, seed=0)
    write_mnist_folder(tmp_path / "b" / "mnist", n_train=60, n_test=20, seed=1)
    folder_a = evaluators.cache_folder("mnist", fast=True, data_dir=tmp_path / "a")
    assert folder_a != evaluators.cache_folder("mnist", fast=True, data_dir=tmp_path / "b")
    assert folder_a != evaluators.cache_folder("mnist", fast=False, data_dir=tmp_path / "a")
    assert folder_a == evaluators.cache_folder("mnist", fast=True, data_dir=tmp_path / "a")

    def draws():
        return random.random(), float(np.random.random()), float(keras.random.uniform((), seed=None))

    keras.utils.set_random_seed(7)
    expected = draws()
    keras.utils.set_random_seed(7)
    judge = evaluators.evaluator("mnist", fast=True, data_dir=tmp_path / "a")  # trains it, in another process
    assert draws() == expected
    assert judge.output_shape == (None, 10) and (folder_a / "model.keras").is_file()
    stamp = (folder_a / "model.keras").stat().st_mtime_ns
    keras.utils.set_random_seed(7)
    evaluators.evaluator("mnist", fast=True, data_dir=tmp_path / "a")
    assert (folder_a / "model.keras").stat().st_mtime_ns == stamp  # cached: not trained again
    assert draws() == expected  # and the caller's streams are the same whether the cache existed or not


def test_an_evaluator_that_cannot_be_loaded_is_rebuilt_and_the_key_holds_keras_backend_and_precision(
        tmp_path, monkeypatch, capsys):
    """One course home, used by two Keras versions (a Drive-backed home after Colab updates Keras) or on
    two backends or precisions: each gets an evaluator of its own, and an entry that fails to load
    (saved by a Keras that this one cannot read, or damaged) is rebuilt with one line, never a traceback."""
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    write_mnist_folder(tmp_path / "a" / "mnist", n_train=60, n_test=20, seed=0)
    folder = evaluators.cache_folder("mnist", fast=True, data_dir=tmp_path / "a")
    with monkeypatch.context() as m:
        m.setattr(keras, "__version__", "3.99.0")
        assert evaluators.cache_folder("mnist", fast=True, data_dir=tmp_path / "a") != folder
    with monkeypatch.context() as m:
        precision = evaluators.devices.resolve_precision("auto")
        m.setattr(evaluators.devices, "resolve_precision", lambda requested="auto": precision)
        m.setattr(keras.backend, "backend", lambda: "jax" if keras.config.backend() != "jax" else "torch")
        assert evaluators.cache_folder("mnist", fast=True, data_dir=tmp_path / "a") != folder
    with monkeypatch.context() as m:
        m.setattr(evaluators.devices, "resolve_precision", lambda requested="auto": "mixed_bfloat16")
        assert evaluators.cache_folder("mnist", fast=True, data_dir=tmp_path / "a") != folder

    builds = []

    def build(dataset, fast, target, data_dir, verbose):  # a small stand-in for the cnn job, counted
        builds.append(target)
        target.mkdir(parents=True, exist_ok=True)
        model = cnn_models.compile_classifier(cnn_models.build_classifier((28, 28, 1), widths=(4, 8), convs=(1, 1)), 1)
        model.save(target / "model.keras")

    monkeypatch.setattr(evaluators, "_train_in_subprocess", build)
    evaluators.evaluator("mnist", fast=True, data_dir=tmp_path / "a")
    assert builds == [folder]
    # what a newer Keras wrote: an archive this Keras cannot read (here: not an archive at all)
    (folder / "model.keras").write_bytes(b"saved by another Keras")
    judge = evaluators.evaluator("mnist", fast=True, data_dir=tmp_path / "a")
    assert builds == [folder, folder] and judge.output_shape == (None, 10)
    said = capsys.readouterr().out
    assert said.count("could not be loaded") == 1 and "rebuilding it" in said and str(folder) in said


def _record_as_before(run_json, **changes):
    """Rewrite ``run.json``'s settings as an earlier release recorded them (None: the key was not recorded)."""
    record = json.loads(run_json.read_text())
    for key, value in changes.items():
        if value is None:
            record["settings"].pop(key)
        else:
            record["settings"][key] = value
    run_json.write_text(json.dumps(record))


def test_xla_is_a_choice_that_old_runs_still_resume_under_and_a_change_of_it_is_refused(tmp_path, capsys):
    """``--jit-compile gpu|always|never``: runs recorded true/false before it was a choice are the same runs
    (true is the default "gpu"); a run started with one choice is refused with another (XLA changes the
    arithmetic), the refusal names both in today's terms, and the command that continues it names its own choice."""
    from course.errors import CourseError
    from course.jobs import dcgan

    job = dcgan.DCGANJob()
    assert dcgan.TrainConfig().jit_compile == "gpu"
    with pytest.raises(CourseError, match="--jit-compile must be one of gpu, always, never"):
        dcgan.TrainConfig(jit_compile="sometimes")
    recorded = {choice: job.settings(dcgan.TrainConfig(jit_compile=choice), "float32")["jit_compile"]
                for choice in ("gpu", "always", "never")}
    assert recorded == {"gpu": "gpu", "always": "always", "never": "never"}  # new runs record the choice itself
    assert job.upgrade_settings({"jit_compile": True})["jit_compile"] == "gpu"
    assert job.upgrade_settings({"jit_compile": False})["jit_compile"] == "never"
    assert job.upgrade_settings({"jit_compile": "always"})["jit_compile"] == "always"
    assert "--jit-compile" not in job.command({"jit_compile": "gpu"}, "r")
    assert "--jit-compile never" in job.command({"jit_compile": "never"}, "r")

    out = tmp_path / "r"
    common = ["--dataset", "synthetic_digits", "--fast", "--samples", "16", "--out", str(out)]
    assert main(["train", "dcgan", *common, "--epochs", "1"]) == 0
    assert json.loads((out / "run.json").read_text())["settings"]["jit_compile"] == "gpu"
    _record_as_before(out / "run.json", jit_compile=True, ema=None)  # as the release before wrote it: no ema
    capsys.readouterr()
    assert main(["train", "dcgan", *common, "--epochs", "1", "--jit-compile", "always", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "settings.jit_compile: 'gpu' in the run, 'always' now" in err and "Traceback" not in err
    hint = err.split("To continue it: ")[1].splitlines()[0]
    assert hint.startswith("python -m course train dcgan ") and "--jit-compile" not in hint
    assert main([*hint.split()[3:], "--epochs", "2"]) == 0, capsys.readouterr().err  # the old run continues
    assert json.loads((out / "run.json").read_text())["settings"]["jit_compile"] is True  # its record is its own
    # refused again after it was extended: the command given continues it at the epochs it has (not fewer,
    # which would be refused in turn), as it stands
    capsys.readouterr()
    assert main(["train", "dcgan", *common, "--epochs", "1", "--jit-compile", "always", "--resume"]) == 2
    hint = capsys.readouterr().err.split("To continue it: ")[1].splitlines()[0]
    assert "--epochs 2" in hint
    assert main(hint.split()[3:]) == 0, capsys.readouterr().err
    assert "ema" not in json.loads((out / "run.json").read_text())["settings"]


@pytest.mark.parametrize("recorded", [None, "none"], ids=["defaults-recorded-null", "explicit-none"])
def test_a_cnn_run_recorded_as_before_the_new_defaults_resumes_with_the_command_it_is_given(tmp_path, capsys,
                                                                                           recorded):
    """Runs of MNIST's recipe of before (batches of 128, no augmentation) stay the same runs, whether they recorded
    ``augment: null`` (the defaults, before the course filled them in) or ``"none"`` (asked for): under the new
    defaults they are refused, and the command the refusal gives continues them."""
    write_mnist_folder(tmp_path / "data" / "mnist", n_train=120, n_test=20)
    out = tmp_path / "r"
    data_dir = ["--data-dir", str(tmp_path / "data")]
    common = ["--dataset", "mnist", *data_dir, "--train-examples", "100", "--epochs", "1", "--out", str(out)]
    assert main(["train", "cnn", *common, "--batch-size", "128", "--augment", "none"]) == 0
    assert json.loads((out / "run.json").read_text())["settings"]["augment"] == "none"  # recorded as asked
    (out / "run.json").write_text((out / "run.json").read_text().replace('"augment": "none"',
                                                                         f'"augment": {json.dumps(recorded)}'))
    assert json.loads((out / "run.json").read_text())["settings"]["augment"] == recorded
    capsys.readouterr()
    assert main(["train", "cnn", *common, "--resume"]) == 2  # the new defaults: batches of 64, shifted digits
    err = capsys.readouterr().err
    assert "settings.augment: 'none' in the run, 'shift' now" in err
    hint = err.split("To continue it: ")[1].splitlines()[0]
    assert "--batch-size 128" in hint and "--augment none" in hint and hint.startswith("python -m course train cnn ")
    assert main([*hint.split()[3:], *data_dir]) == 0, capsys.readouterr().err
    # a run with the new defaults records its augmentation
    assert main(["train", "cnn", *common[:-1], str(tmp_path / "new")]) == 0
    assert json.loads((tmp_path / "new" / "run.json").read_text())["settings"]["augment"] == "shift"


def test_null_augment_means_what_each_dataset_trained_with_before_it_was_filled_in():
    from course.jobs import cnn as job

    upgrade = job.CNNJob().upgrade_settings
    assert upgrade({"dataset": "mnist", "augment": None})["augment"] == "none"
    assert upgrade({"dataset": "fashion_mnist", "augment": None})["augment"] == "flip"
    assert upgrade({"dataset": "cifar10", "augment": None})["augment"] == "flip_shift"
    assert upgrade({"dataset": "fashion_mnist", "augment": "none"})["augment"] == "none"  # asked for: kept
    # and today's defaults are what a new run records, so an old default run with today's defaults is the same run
    assert job.TrainConfig(dataset="fashion_mnist").augment == "flip"
    assert job.TrainConfig(dataset="cifar10").augment == "flip_shift"
