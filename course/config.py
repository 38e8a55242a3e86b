"""Fast mode, the course's home folder, and seeding.

Fast mode is one switch, ``COURSE_FAST=1`` (``--fast`` on the command line): it
shrinks data and epochs so every notebook and every ``train`` run finishes in well
under a minute on a 2-core CPU, on real data. Full settings are the defaults.
Taught in 01_cnn_classifier, section Setup.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when ``COURSE_FAST`` is set to 1/true/yes/on."""
    return os.environ.get("COURSE_FAST", "").strip().lower() in _TRUE


def set_fast_mode(on: bool = True) -> None:
    """Switch fast mode for this process (and kernels or subprocesses it starts)."""
    os.environ["COURSE_FAST"] = "1" if on else "0"


@dataclass(frozen=True)
class FastLimits:
    """How far fast mode shrinks a run: training images, test images, epochs, batch size."""

    train_examples: int
    test_examples: int
    epochs: int
    batch_size: int


#: Fast-mode limits per model family (measured to stay well under a minute on 2 CPU cores).
FAST = {
    # batch 64: enough optimizer steps (~90) for BatchNorm's moving statistics to settle
    "cnn": FastLimits(train_examples=3000, test_examples=2000, epochs=2, batch_size=64),
    # test_examples also caps the number of generated samples that are scored
    "dcgan": FastLimits(train_examples=2048, test_examples=1000, epochs=2, batch_size=64),
    "vae": FastLimits(train_examples=3000, test_examples=1000, epochs=2, batch_size=64),
    # training digits before they are split into the two domains (256 each); CycleGAN
    # steps are ~20x a DCGAN step's work
    "cyclegan": FastLimits(train_examples=512, test_examples=500, epochs=2, batch_size=32),
    # a diffusion step costs about a DCGAN step; its samples cost 1 network call per sampler step
    # (fast mode also caps DDIM at 10 steps: jobs.diffusion); 600 samples: lesson 05 scores pools of 2 x 300;
    # 512 images at the default batch of 16: 32 steps an epoch
    "diffusion": FastLimits(train_examples=512, test_examples=600, epochs=2, batch_size=32),
    # the fast-mode lesson-01 classifier that later lessons score with (jobs.evaluators):
    # 84 steps of 32, enough to read digits (~0.9) at half the cost of the "cnn" limits
    "evaluator": FastLimits(train_examples=1500, test_examples=1000, epochs=2, batch_size=32),
}


def home() -> Path:
    """The course's home folder, where runs and caches live: ``$COURSE_HOME``, else ``~/generative-course``.

    Point it at Google Drive in Colab (the lessons' optional Drive cell does), so that a
    recycled runtime resumes from the last epoch.
    """
    return Path(os.environ.get("COURSE_HOME") or Path.home() / "generative-course").expanduser()


def runs_dir() -> Path:
    """Where run folders go by default: ``HOME/runs``."""
    return home() / "runs"


def cache_dir() -> Path:
    """Where trained evaluators are kept: ``$COURSE_CACHE_DIR`` if set, else ``HOME/cache``."""
    return Path(os.environ.get("COURSE_CACHE_DIR") or home() / "cache").expanduser()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend (``keras.utils.set_random_seed``)."""
    import keras

    keras.utils.set_random_seed(int(seed))
