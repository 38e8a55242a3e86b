"""The skeleton every train job shares: data under fast mode, build, fit resumably, save, measure, record.

A job is a recipe (its ``TrainConfig`` dataclass: the command line's flags) plus a few
steps that differ per model. :meth:`TrainJob.train` runs them in one fixed order::

    data = job.load(cfg)                 # fast mode shrinks data, epochs and batch size here only
    model = job.build(cfg, data)
    history = fit_resumable(model, *job.feed(cfg, data), callbacks=job.callbacks(...))
    job.save(...)                        # trained networks, figures, samples
    metrics.json = run_record(...) + job.measure(...) + {"config": cfg}
"""
from __future__ import annotations

import os
import typing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from .. import config, data
from ..errors import CourseError
from ..io import atomic_path, write_json_atomic
from ..runs import RunFolder, SampleGrid, fit_resumable, train_seconds, write_gif


@dataclass
class RunConfig:
    """Settings every train job has; each job's ``TrainConfig`` adds its own and may change defaults.

    The command line makes one flag per field (``--batch-size``, ``--latent-dim``, ...).
    """

    dataset: str = "mnist"
    epochs: int = 10  # epochs in all (a resumed run stops at this total)
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    fast: bool = False  # a small real subset and few epochs (also COURSE_FAST=1)

    def __post_init__(self):
        """Refuse bad settings at once, naming the setting: wrong type, out of range, not a choice."""
        for name, kind in typing.get_type_hints(type(self)).items():
            value = getattr(self, name)
            optional = type(None) in typing.get_args(kind)
            if value is None and optional:
                continue
            base = next((a for a in typing.get_args(kind) if a is not type(None)), kind) if optional else kind
            flag = "--" + name.replace("_", "-")
            if typing.get_origin(base) is Literal:
                if value not in typing.get_args(base):
                    raise CourseError(f"{flag} must be one of {', '.join(map(str, typing.get_args(base)))}; "
                                      f"got {value!r}.")
                continue
            if base is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                setattr(self, name, value)
            if not isinstance(value, base) or (base is int and isinstance(value, bool)):
                raise CourseError(f"{flag} must be {getattr(base, '__name__', base)}, got {value!r}.")
            if base in (int, float) and value < 0:
                raise CourseError(f"{flag} must not be negative, got {value}.")
            if name in POSITIVE and value <= 0:
                raise CourseError(f"{flag} must be at least 1, got {value}." if base is int
                                  else f"{flag} must be positive, got {value}.")


#: Settings that must be above zero (the others only not negative).
POSITIVE = {"epochs", "batch_size", "learning_rate", "latent_dim", "iwae_k", "samples", "width", "d_width",
            "pool_size", "monitor_examples", "train_examples"}


@dataclass
class RunData:
    """A run's data after fast mode: uint8 splits plus the epochs and batch size to use."""

    loaded: data.Loaded  # .source, .class_names
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple
    epochs: int
    batch_size: int
    test_examples_cap: int | None  # fast mode's cap on test images (and on scored samples)
    x_val: np.ndarray | None = None  # held out of the training split, when the job keeps a validation set
    y_val: np.ndarray | None = None


def load_run_data(kind: str, cfg, data_dir=None) -> RunData:
    """Seed, load ``cfg.dataset``, shrink it when ``cfg.fast`` (``config.FAST[kind]``), check shapes.

    The one place where fast mode cuts data, epochs and batch size for every train job.
    """
    config.seed_everything(cfg.seed)
    loaded = data.load(cfg.dataset, data_dir=data_dir)
    (x_train, y_train), (x_test, y_test) = loaded
    epochs, batch_size, cap = cfg.epochs, cfg.batch_size, None
    if cfg.fast:
        limits = config.FAST[kind]
        x_train, y_train = x_train[: limits.train_examples], y_train[: limits.train_examples]
        x_test, y_test = x_test[: limits.test_examples], y_test[: limits.test_examples]
        epochs, batch_size, cap = min(epochs, limits.epochs), min(batch_size, limits.batch_size), limits.test_examples
    if getattr(cfg, "train_examples", None):
        x_train, y_train = x_train[: cfg.train_examples], y_train[: cfg.train_examples]
    shape = data.spec(cfg.dataset).image_shape
    data.check_images(x_train, shape, f"{cfg.dataset} training images")
    return RunData(loaded, x_train, y_train, x_test, y_test, shape, epochs, batch_size, cap)


def run_record(model: str, cfg, data_source: str, history: dict[str, list[float]], *, examples: int,
               batch_size: int, images_per_epoch: int | None = None) -> dict:
    """The keys every ``metrics.json`` starts with: what ran, on what, for how long, how fast.

    ``images_per_epoch`` is what one epoch trains on when it differs from ``examples``
    (a GAN drops the last partial batch).
    """
    seconds = train_seconds(history)
    epochs_done = len(history.get("epoch_seconds", []))
    per_epoch = examples if images_per_epoch is None else images_per_epoch
    return {
        "model": model,
        "dataset": cfg.dataset,
        "data_source": data_source,
        "fast": cfg.fast,
        "epochs": epochs_done,
        "batch_size": batch_size,
        "seed": cfg.seed,
        "examples": int(examples),
        "train_seconds": round(seconds, 2),
        "seconds_per_epoch": round(seconds / max(1, epochs_done), 2),
        "images_per_second": round(per_epoch * epochs_done / seconds, 1) if seconds else None,
    }


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """``model.save(path)`` through a temporary file, so a kill never leaves half a ``.keras`` file."""
    with atomic_path(path) as tmp:
        model.save(tmp)
    return Path(path)


def progress_frames(run: RunFolder, make_images, ncols: int = 10) -> SampleGrid:
    """The callback that redraws ``samples.png`` and adds a frame under ``frames/`` every epoch."""
    return SampleGrid(make_images, run / "frames", latest=run / "samples.png", ncols=ncols)


def finish_progress_gif(run: RunFolder) -> Path:
    """Join the run's frames into ``progress.gif``."""
    return write_gif(run / "frames", run / "progress.gif")


class TrainJob:
    """One model's train job. Subclasses set ``name`` and ``Config`` and fill in the steps."""

    name: str = ""
    Config: type = None

    # ------------------------------------------------------------------ the steps a job fills in

    def load(self, cfg, data_dir=None) -> RunData:
        """The run's data, through the shared fast-mode rules."""
        return load_run_data(self.name, cfg, data_dir)

    def build(self, cfg, d: RunData) -> keras.Model:
        """The compiled model."""
        raise NotImplementedError

    def feed(self, cfg, d: RunData) -> tuple:
        """``(training data, validation data or None)`` for ``fit``."""
        raise NotImplementedError

    def callbacks(self, cfg, d: RunData, model: keras.Model, run: RunFolder, data_dir=None) -> list:
        """Callbacks of this job (run before the checkpoint, so what they log is kept)."""
        return []

    def save(self, cfg, d: RunData, model: keras.Model, run: RunFolder, history: dict) -> None:
        """Write the trained networks and the figures into the run folder."""

    def measure(self, cfg, d: RunData, model: keras.Model, run: RunFolder, history: dict, data_dir=None) -> dict:
        """The job's own figures for ``metrics.json``."""
        return {}

    def record(self, cfg, d: RunData, history: dict) -> dict:
        """The keys every ``metrics.json`` starts with (:func:`run_record`)."""
        return run_record(self.name, cfg, d.loaded.source, history, examples=len(d.x_train), batch_size=d.batch_size)

    # ------------------------------------------------------------------ the fixed order

    def train(self, cfg, out: str | os.PathLike, *, resume: bool = False, data_dir=None, verbose="auto") -> dict:
        """Train into the run folder ``out``; returns (and writes) ``metrics.json``."""
        d = self.load(cfg, data_dir)
        model = self.build(cfg, d)
        run = RunFolder(out)
        x, validation = self.feed(cfg, d)
        history = fit_resumable(model, x, epochs=d.epochs, run=run, resume=resume, validation_data=validation,
                                callbacks=self.callbacks(cfg, d, model, run, data_dir), verbose=verbose)
        self.save(cfg, d, model, run, history)
        result = {**self.record(cfg, d, history), **self.measure(cfg, d, model, run, history, data_dir),
                  "config": asdict(cfg)}
        write_json_atomic(run / "metrics.json", result)
        return result
