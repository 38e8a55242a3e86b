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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from .. import backend, config, data, devices, plotting
from ..errors import CourseError, RunFolderError
from ..io import atomic_path, write_json_atomic
from ..runs import (RunFolder, SampleGrid, check_same_run, environment, fit_resumable, train_seconds, write_gif,
                    writable_run)


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
    train_examples: int | None = None  # train on the first N training images only (None: all)
    precision: Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"] = "auto"  # auto: bf16/fp16 on a GPU
    devices: int | None = None  # GPUs to train on through the backend's distribution (default: every visible one)
    steps_per_execution: int = 1  # train steps per call into the compiled step (fewer Python round trips)

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


#: Settings that change how fast a run goes, not what it computes: a run may resume with others.
RUNTIME_ONLY = frozenset({"devices", "steps_per_execution"})

#: Settings that must be above zero (the others only not negative).
POSITIVE = {"epochs", "batch_size", "learning_rate", "latent_dim", "iwae_k", "samples", "width", "d_width",
            "pool_size", "validation_examples", "train_examples", "devices", "steps_per_execution"}


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
    if cfg.train_examples:
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


def progress_frames(run: RunFolder, make_images, ncols: int = 10, model: str = "") -> SampleGrid:
    """The callback that redraws ``samples.png`` and adds a frame under ``frames/`` every epoch,
    each marked as generated by ``model`` in run ``run`` (PNG text fields)."""
    return SampleGrid(make_images, run / "frames", latest=run / "samples.png", ncols=ncols,
                      info=plotting.generated_info(model, run))


def finish_progress_gif(run: RunFolder) -> Path:
    """Join the run's frames into ``progress.gif``."""
    return write_gif(run / "frames", run / "progress.gif")


class TrainJob:
    """One model's train job. Subclasses set ``name`` and ``Config`` and fill in the steps.

    ``extendable``: a finished run may be continued to more epochs (no learning-rate
    schedule spans the run); otherwise ``epochs`` is a setting like any other and a longer
    run is a new run. ``measurement_only``: settings that change what is measured at the
    end, not the weights (they may differ when a run is resumed).
    """

    name: str = ""
    Config: type = None
    extendable: bool = False
    measurement_only: frozenset = frozenset()

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

    def fingerprint(self, cfg, d: RunData) -> dict:
        """What the weights are trained on (:func:`course.data.fingerprint`), compared when a run resumes."""
        arrays = [d.x_train, d.y_train] + ([d.x_val, d.y_val] if d.x_val is not None else [])
        return data.fingerprint(cfg.dataset, *arrays)

    def settings(self, cfg, policy: str | None = None) -> dict:
        """The settings a resumed run must share with its start (``cfg`` less what may change; the
        precision as the dtype policy it resolved to on this machine)."""
        free = set(self.measurement_only) | RUNTIME_ONLY | ({"epochs"} if self.extendable else set())
        settings = {k: v for k, v in asdict(cfg).items() if k not in free}
        settings["precision"] = policy or devices.resolve_precision(cfg.precision)
        return settings

    def upgrade_settings(self, recorded: dict) -> dict:
        """The settings a run recorded (its ``run.json``, perhaps written by an earlier release) as this release
        writes them, so that a run started then compares equal to the same settings now, and the command that
        continues it names this release's flags. Each job adds what changed in its own settings; here:
        ``jit_compile`` was on/off (true/false) before it was a choice, true being today's ``"gpu"``."""
        settings = dict(recorded)
        if isinstance(settings.get("jit_compile"), bool):
            settings["jit_compile"] = backend.xla_choice(settings["jit_compile"])
        return settings

    def command(self, settings: dict, out, resume: bool = True) -> str:
        """The command line that continues a run with ``settings`` (or, ``resume=False``, starts one); settings a
        run recorded in an earlier form are written as today's flags (:meth:`upgrade_settings`)."""
        settings = self.upgrade_settings(settings)
        plain = self.Config()
        try:  # the defaults for the run's dataset (some depend on it: the CNN's batch size and augmentation)
            defaults = self.Config(**({"dataset": settings["dataset"]} if "dataset" in settings else {}))
        except CourseError:
            defaults = plain
        flags = []
        for key, value in settings.items():
            if value != getattr(plain if key == "dataset" else defaults, key, None) and value is not None:
                flag = "--" + key.replace("_", "-")
                flags.append(flag if value is True else f"--no-{flag[2:]}" if value is False else f"{flag} {value}")
        return " ".join(["python -m course train", self.name, *flags, "--out", str(out), *(["--resume"] if resume else [])])

    # ------------------------------------------------------------------ the fixed order

    def train(self, cfg, out: str | os.PathLike, *, resume: bool = False, data_dir=None, verbose="auto") -> dict:
        """Train into the run folder ``out``; returns (and writes) ``metrics.json``.

        The folder is locked for the whole job; a folder that holds a run is refused
        without ``resume``, and with it unless its settings and data are these.
        """
        if cfg.steps_per_execution > 1 and keras.backend.backend() == "torch":
            print("Note: PyTorch runs one train step per call; --steps-per-execution is ignored there.")
            cfg = replace(cfg, steps_per_execution=1)
        # on several machines (TF_CONFIG) only the chief writes `out` and holds its lock; the other workers
        # train the same steps in a scratch folder of their own
        with writable_run(out, devices.is_chief()) as run, run.lock(), \
                devices.training_setup(cfg.precision, cfg.devices) as (policy, replicas):
            d, model, history = self.fit(cfg, run, policy, resume=resume, data_dir=data_dir, verbose=verbose)
            self.save(cfg, d, model, run, history)
            result = {**self.record(cfg, d, history), **self.measure(cfg, d, model, run, history, data_dir),
                      **self.hardware(model, policy, replicas), "config": asdict(cfg)}
            write_json_atomic(run / "metrics.json", result)
        return result

    def fit(self, cfg, run: RunFolder, policy: str, *, resume: bool = False, data_dir=None, verbose="auto"):
        """Load, build and train into ``run`` (locked by the caller, under ``devices.training_setup``, whose
        dtype policy is ``policy``): ``(data, model, history)``, nothing saved or measured yet."""
        d = self.load(cfg, data_dir)
        settings, fingerprint = self.settings(cfg, policy), self.fingerprint(cfg, d)
        self._check_resumable(run, resume, settings, fingerprint, cfg.epochs)
        model = self.build(cfg, d)
        x, validation = self.feed(cfg, d)
        history = fit_resumable(model, x, epochs=d.epochs, run=run, resume=resume, settings=settings,
                                data_fingerprint=fingerprint, validation_data=validation,
                                callbacks=self.callbacks(cfg, d, model, run, data_dir), verbose=verbose,
                                upgrade_settings=self.upgrade_settings)
        return d, model, history

    def hardware(self, model, policy: str, replicas: int) -> dict:
        """What the run was computed with: backend, devices, precision, compilation."""
        return {"backend": keras.backend.backend(), "device": ", ".join(devices.gpus()) or "CPU",
                "replicas": replicas, "precision": policy, "jit_compile": bool(getattr(model, "jit_compile", False)),
                "steps_per_execution": int(getattr(model, "steps_per_execution", 1) or 1)}

    def _check_resumable(self, run: RunFolder, resume: bool, settings: dict, fingerprint: dict,
                         epochs: int | None = None) -> None:
        """Fail before anything is built when the folder holds another run (fit_resumable checks again)."""
        state = run.state()
        if state is None:
            return
        if not resume:
            raise RunFolderError(f"{run.path} already holds a run (checkpoint after epoch {state['epoch']}). "
                                 "Resume it with --resume, or choose another --out.")
        try:
            check_same_run(run, {"settings": settings, "data": fingerprint, **environment()}, self.upgrade_settings)
        except RunFolderError as err:
            record = run.record() or {}
            recorded = record.get("settings")
            if recorded and self.extendable:  # its epochs are not a setting: at least those it has trained
                recorded = {**recorded, "epochs": max(state["epoch"], epochs or 0)}
            prefix = "" if record.get("backend", keras.backend.backend()) == keras.backend.backend() else (
                f"KERAS_BACKEND={record['backend']} ")
            hint = f"\nTo continue it: {prefix}{self.command(recorded, run.path)}" if recorded else ""
            new_out = f"{run.path}-{keras.backend.backend()}" if prefix else f"{run.path}-2"
            hint += f"\nTo start a new run: {self.command(settings, new_out, resume=False)}"
            raise RunFolderError(f"{err}{hint}") from None
