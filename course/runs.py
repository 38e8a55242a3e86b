"""Run folders: checkpoints that survive a kill, resumable ``fit``, history, and the callbacks of a run.

Taught in 01_cnn_classifier, section Train (resume) and used by every lesson.

A run folder holds everything one training run writes::

    run/
      checkpoints/epoch-0003.weights.h5   model + optimizer state after epoch 3
      checkpoints/state.json              {"epoch": 3, "weights": ..., "history": {...}}
      history.csv                         one row per completed epoch
      metrics.json                        final figures
      model.keras                         the trained model

Every file is written to a temporary name and renamed into place, so a run
killed at any instant leaves the previous checkpoint intact. ``state.json`` is
written last and is the single source of truth: the weights it names and the
history it holds always belong to the same epoch.
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from .errors import RunFolderError
from .io import atomic_path, write_json_atomic, write_text_atomic
from .plotting import grid_image, save_png

STATE_FILE = "state.json"


class RunFolder:
    """Paths of one run's outputs. Creating it makes the folder."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints = self.path / "checkpoints"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def state_path(self) -> Path:
        return self.checkpoints / STATE_FILE

    def state(self) -> dict | None:
        """The last checkpoint's state (epoch, weights file, history), or None."""
        if not self.state_path.is_file():
            return None
        try:
            return json.loads(self.state_path.read_text())
        except json.JSONDecodeError as err:
            raise RunFolderError(
                f"{self.state_path} is corrupt ({err}); delete the checkpoints folder to start over."
            ) from None

    def write_history_csv(self, history: dict[str, list]) -> None:
        keys = list(history)
        rows = len(next(iter(history.values()), []))
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["epoch"] + keys)
        for i in range(rows):
            writer.writerow([i + 1] + [history[k][i] for k in keys])
        write_text_atomic(self / "history.csv", buf.getvalue())


def read_history_csv(path: str | os.PathLike) -> dict[str, list[float]]:
    """Read a ``history.csv`` back into ``{metric: [value per epoch]}``."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [float(r[k]) for r in rows] for k in keys}


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (wall time of the epoch) to the logs, so history keeps it."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


class ResumableCheckpoint(keras.callbacks.Callback):
    """After every epoch, save model + optimizer state and the history, atomically.

    Keras' ``BackupAndRestore`` writes its weights and its epoch counter as two
    separate, non-atomic files and deletes them when training ends; this callback
    keeps the last checkpoint (so a finished run can be extended) and makes the
    epoch, weights and history change together. Restore with :func:`fit_resumable`.
    """

    def __init__(self, run: RunFolder, history: dict[str, list] | None = None, keep: int = 1):
        super().__init__()
        self.run = run
        self.history = {k: list(v) for k, v in (history or {}).items()}
        self.keep = keep

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        done = len(next(iter(self.history.values()), []))
        for key, value in logs.items():
            self.history.setdefault(key, [float("nan")] * done).append(float(value))
        for values in self.history.values():  # a metric missing this epoch
            if len(values) < done + 1:
                values.append(float("nan"))
        weights = self.run.checkpoints / f"epoch-{epoch + 1:04d}.weights.h5"
        with atomic_path(weights) as tmp:
            self.model.save_weights(tmp)
        write_json_atomic(self.run.state_path,
                          {"epoch": epoch + 1, "weights": weights.name, "history": self.history})
        self.run.write_history_csv(self.history)
        self._prune(keep_name=weights.name)

    def _prune(self, keep_name: str) -> None:
        old = sorted(p for p in self.run.checkpoints.glob("epoch-*.weights.h5") if p.name != keep_name)
        for p in old[: max(0, len(old) - (self.keep - 1))]:
            p.unlink(missing_ok=True)


def restore(model: keras.Model, run: RunFolder) -> tuple[int, dict[str, list]]:
    """Load the last checkpoint of ``run`` into a compiled ``model``.

    Returns ``(epochs_done, history)``; ``(0, {})`` when the run has no checkpoint.
    The optimizer is built first so its state (step count, moments) is restored too.
    """
    state = run.state()
    if state is None:
        return 0, {}
    weights = run.checkpoints / state["weights"]
    if not weights.is_file():
        raise RunFolderError(f"{run.state_path} names {weights.name}, which is missing; "
                             "delete the checkpoints folder to start over.")
    for opt in _optimizers(model):
        if not opt.built:
            opt.build(_trainable_for(model, opt))
    model.load_weights(weights)
    return int(state["epoch"]), state.get("history", {})


def _optimizers(model: keras.Model) -> list:
    """The optimizers a model owns: ``model.optimizer`` or the several of a multi-network model."""
    found = getattr(model, "optimizers", None)
    if found:
        return list(found)
    return [model.optimizer] if getattr(model, "optimizer", None) is not None else []


def _trainable_for(model: keras.Model, optimizer) -> list:
    owner = getattr(model, "variables_for", None)
    return owner(optimizer) if owner else model.trainable_variables


def fit_resumable(
    model: keras.Model,
    x,
    y=None,
    *,
    epochs: int,
    run: RunFolder | str | os.PathLike,
    resume: bool = True,
    validation_data=None,
    callbacks: list | None = None,
    verbose: int | str = "auto",
) -> dict[str, list[float]]:
    """``model.fit(x, y)`` that checkpoints every epoch into ``run`` and resumes from it.

    With ``resume=True`` a run folder that already has checkpoints continues from
    the last completed epoch, its history kept; with ``resume=False`` such a folder
    is an error (nothing is overwritten by accident). Returns the whole history,
    all epochs, including those before the resume.
    """
    run = run if isinstance(run, RunFolder) else RunFolder(run)
    done, history = 0, {}
    if run.state() is not None:
        if not resume:
            raise RunFolderError(
                f"{run.path} already holds a run (checkpoint after epoch {run.state()['epoch']}). "
                "Resume it with --resume (resume=True), or choose another output folder."
            )
        done, history = restore(model, run)
        if verbose:
            print(f"Resuming from {run.path}: {done} epoch(s) done, {max(0, epochs - done)} to go.")
    checkpoint = ResumableCheckpoint(run, history)
    if done < epochs:
        import tensorflow as tf

        model.fit(
            x,
            y,
            shuffle=not isinstance(x, tf.data.Dataset),  # a tf.data pipeline shuffles itself
            epochs=epochs,
            initial_epoch=done,
            validation_data=validation_data,
            # the caller's callbacks run before the checkpoint, so what they add to the logs
            # (e.g. a per-epoch measurement) is kept in the history
            callbacks=[EpochTimer(), *(callbacks or []), checkpoint],
            verbose=verbose,
        )
    return checkpoint.history


def train_seconds(history: dict[str, list[float]]) -> float:
    """Seconds spent in the epochs of ``history`` (all of them, across resumes)."""
    return float(np.nansum(history.get("epoch_seconds", [])))


def load_saved_model(path: str | os.PathLike, filename: str, model: str) -> keras.Model:
    """Load ``filename`` (e.g. ``generator.keras``) from a run folder, or the file itself, with safe mode on."""
    path = Path(path)
    if path.is_dir():
        path = path / filename
    if not path.is_file():
        raise FileNotFoundError(f"No {filename} at {path}; train one with `python -m course train {model} --out ...`.")
    return keras.saving.load_model(path)


# --------------------------------------------------------------------------- pictures over time


class SampleGrid(keras.callbacks.Callback):
    """Save a grid of images made by ``make_images(model)`` after every epoch.

    ``make_images`` should use fixed inputs (a fixed noise vector, fixed test
    images) so the frames show the same samples improving. Frames go to
    ``folder/epoch-NNNN.png``; the latest also to ``latest``. Used from 02_dcgan on.
    """

    def __init__(self, make_images: Callable[[keras.Model], np.ndarray], folder, latest=None, ncols=10):
        super().__init__()
        self.make_images, self.folder, self.latest, self.ncols = make_images, Path(folder), latest, ncols

    def on_epoch_end(self, epoch, logs=None):
        grid = grid_image(self.make_images(self.model), ncols=self.ncols)
        save_png(self.folder / f"epoch-{epoch + 1:04d}.png", grid)
        if self.latest is not None:
            save_png(self.latest, grid)


def write_gif(frames_folder, path, seconds_per_frame: float = 0.4) -> Path:
    """Join the ``epoch-*.png`` frames of a :class:`SampleGrid` into a looping GIF (imageio)."""
    import imageio.v3 as iio

    frames = sorted(Path(frames_folder).glob("epoch-*.png"))
    if not frames:
        raise FileNotFoundError(f"No epoch-*.png frames in {frames_folder} to make a GIF from.")
    images = [iio.imread(f) for f in frames]
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, images, extension=".gif", duration=int(seconds_per_frame * 1000), loop=0)
    return Path(path)
