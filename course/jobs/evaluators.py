"""The evaluator classifiers later lessons score with: the lesson-01 CNN, trained once per dataset and cached.

Lessons 02-04 judge generated images with it: predicted classes (is it a 7?) and
penultimate features (the classifier-feature Fréchet distance). The scoring itself is in
:mod:`course.evaluation`; this module trains (through the cnn job) and caches.

The cache is keyed by everything the classifier depends on: the recipe, a fingerprint of
the data it is trained on (so a data subset and the complete dataset never share an
evaluator), the course's version, Keras' version, the backend and the precision the
recipe resolves to on this machine (one course home can serve Colab's Keras and a
laptop's, TensorFlow and JAX, a CPU and a GPU). An entry that cannot be loaded (saved by
another Keras, or damaged) is rebuilt, with one line saying why. An evaluator is trained in a separate process, under
a lock: the caller's random streams, precision policy and devices are left as they were,
so a run's figures do not depend on whether the cache existed, and two jobs that need the
same evaluator train it once.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import keras

from .. import config, data, devices
from ..errors import CourseError
from ..io import FileLock
from ..version import __version__
from . import cnn


#: The judge's training settings, written out rather than taken from the CNN job's defaults: every Fréchet
#: distance in the results registry was measured with a judge trained so, and lesson 01's defaults may
#: change without changing the judge. (Its architecture is ``models.cnn.classifier_for``'s.)
JUDGE_SETTINGS = {"batch_size": 128, "learning_rate": 2e-3, "validation_fraction": 0.1, "seed": 0}

#: The judge's augmentation per dataset (others: none), also written out: lesson 01's MNIST classifier shifts
#: its digits since the record ``cnn.recipes``; the judge every registry figure was measured with does not.
JUDGE_AUGMENT = {"cifar10": "flip_shift", "fashion_mnist": "flip"}


def recipe(dataset: str, fast: bool) -> cnn.TrainConfig:
    """The evaluator's recipe: the lesson-01 job with :data:`JUDGE_SETTINGS`, 5 epochs (30 for CIFAR-10);
    fast mode: a small, quick one."""
    if fast:  # small, so that the first fast run of a later lesson stays short
        limits = config.FAST["evaluator"]
        return cnn.TrainConfig(dataset=dataset, **{**JUDGE_SETTINGS, "batch_size": limits.batch_size},
                               augment=JUDGE_AUGMENT.get(dataset, "none"),
                               epochs=limits.epochs, train_examples=limits.train_examples, fast=True)
    return cnn.TrainConfig(dataset=dataset, **JUDGE_SETTINGS, augment=JUDGE_AUGMENT.get(dataset, "none"),
                           epochs=5 if dataset != "cifar10" else 30)


def cache_folder(dataset: str, *, fast: bool, data_dir=None) -> Path:
    """Where the evaluator for this dataset, recipe, data and course version is (or will be) cached."""
    cfg = recipe(dataset, fast)
    loaded = data.load(dataset, data_dir=data_dir)
    key = {"recipe": asdict(cfg), "data": data.fingerprint(dataset, *loaded.train, *loaded.test),
           "course": __version__, "keras": keras.__version__, "backend": keras.backend.backend(),
           "precision": devices.resolve_precision(cfg.precision)}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return config.cache_dir() / "evaluators" / f"cnn-{dataset}{'-fast' if fast else ''}-{digest}"


def evaluator(dataset: str = "mnist", *, fast: bool | None = None, data_dir=None, verbose=0) -> keras.Model:
    """The lesson-01 classifier for ``dataset``, trained once and cached, then loaded.

    Fast mode keeps a separate, quickly trained one, so fast figures never mix with full ones.
    """
    fast = config.fast_mode() if fast is None else fast
    folder = cache_folder(dataset, fast=fast, data_dir=data_dir)
    _ensure_built(dataset, fast, folder, data_dir, verbose)
    try:
        return _load(folder)
    except Exception as err:  # saved by another Keras, damaged, half-deleted: build it again
        reason = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:200]}"
        print(f"The cached {dataset} evaluator in {folder} could not be loaded ({reason}); rebuilding it.", flush=True)
        with _lock(folder):
            shutil.rmtree(folder, ignore_errors=True)
        _ensure_built(dataset, fast, folder, data_dir, verbose)
        return _load(folder)


def _lock(folder: Path):
    """The evaluator cache's lock, for a ``with`` block: taken on entry (waiting for another process),
    released at its end."""
    return FileLock(folder.with_name(folder.name + ".lock"), what=f"The evaluator cache {folder}", wait=True)


def _ensure_built(dataset: str, fast: bool, folder: Path, data_dir, verbose) -> None:
    if (folder / "model.keras").is_file():
        return
    with _lock(folder):
        if not (folder / "model.keras").is_file():  # another process may have built it while this one waited
            if verbose:
                print(f"Training the {dataset} evaluator once (cached in {folder}) ...", flush=True)
            _train_in_subprocess(dataset, fast, folder, data_dir, verbose)


def _load(folder: Path) -> keras.Model:
    state = random.getstate()  # building Keras layers draws default seeds from Python's generator
    try:
        return cnn.load_classifier(folder)
    finally:
        random.setstate(state)


def _train_in_subprocess(dataset: str, fast: bool, folder: Path, data_dir, verbose) -> None:
    """Run the cnn job for the evaluator in a fresh Python process, relaying its output."""
    args = json.dumps({"dataset": dataset, "fast": fast, "folder": str(folder),
                       "data_dir": None if data_dir is None else str(data_dir), "verbose": 2 if verbose else 0})
    package_root = str(Path(__file__).resolve().parents[2])
    # the parent may hold the GPU already: each backend takes memory as it needs it, not all at once
    env = {**devices.GROW_GPU_MEMORY, **os.environ, "KERAS_BACKEND": keras.backend.backend(),
           "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    env.pop("TF_CONFIG", None)  # the evaluator trains alone, not as a worker of the caller's cluster
    process = subprocess.Popen([sys.executable, "-c", f"from course.jobs.evaluators import _build; _build({args!r})"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    tail = []
    for line in process.stdout:
        tail = (tail + [line])[-20:]
        if verbose and not _STARTUP_NOISE.search(line):
            print(line, end="", flush=True)
    if process.wait() != 0:
        raise CourseError(f"Training the {dataset} evaluator failed (exit {process.returncode}):\n"
                          + "".join(tail).rstrip())


#: What TensorFlow prints while it starts, before its own log settings apply: not worth relaying.
_STARTUP_NOISE = re.compile(r"^(WARNING: All log messages before absl|I\d{4} |To enable the following instructions|"
                            r".*cpu_feature_guard|.*oneDNN custom operations)")


def _build(args: str) -> None:
    """The evaluator process: train the recipe into the cache folder (resuming a killed build)."""
    a = json.loads(args)
    cnn.train(recipe(a["dataset"], a["fast"]), a["folder"], resume=True, data_dir=a["data_dir"], verbose=a["verbose"])


def score_samples(samples, d, dataset: str, *, fast: bool, data_dir=None) -> tuple[dict, "np.ndarray"]:
    """The scores every generator's run reports for its saved ``samples`` (uint8 images), judged by the
    course's ``dataset`` classifier against ``d.x_test``; also returns the class it reads in each sample.

    The Fréchet distance depends on the sample size: the score and its floor (two halves of the real
    test set) are both computed at n = half the test set (or fewer samples), so that they compare.
    """
    from ..evaluation import classifier_features

    judge = evaluator(dataset, fast=fast, data_dir=data_dir)
    real_features, _ = classifier_features(judge, d.x_test)
    fake_features, fake_classes = classifier_features(judge, samples)
    return score_features(fake_features=fake_features, fake_classes=fake_classes, real_features=real_features,
                          class_names=d.loaded.class_names, dataset=dataset), fake_classes


def score_features(*, fake_features, fake_classes, real_features, class_names, dataset: str) -> dict:
    """:func:`score_samples`'s scores from the judge's features of the samples and of the real test set
    (for a caller that measures more on the same features)."""
    from .. import metrics

    half = len(real_features) // 2
    n = min(len(fake_features), half)
    kid = metrics.kid_subsets(fake_features, real_features)
    return {
        "samples": int(len(fake_features)),
        "fid_classifier": round(metrics.frechet_distance(fake_features[:n], real_features[:n]), 4),
        "fid_classifier_floor": round(metrics.frechet_distance(real_features[half:half + n], real_features[:n]), 4),
        "kid_classifier": round(float(kid.mean()), 5),
        "kid_classifier_std": round(float(kid.std()), 5),
        "fid_note": (f"Frechet distance in the penultimate features of the course's {dataset} classifier, "
                     f"{n} samples vs {n} real test images; the floor compares {n} other real test images with "
                     "the same real ones, at the same sample size. Not Inception FID: the scales differ. "
                     f"kid_classifier: mean and spread over {len(kid)} random subsets of "
                     f"{min(1000, len(real_features) // 2, len(fake_features) // 2)} images."),
        "sample_class_histogram": metrics.class_histogram(fake_classes, class_names),
    }
