"""Run folders: checkpoints that survive a kill, resumable ``fit``, history, and the callbacks of a run.

Taught in 01_cnn_classifier, section Train (resume) and used by every lesson.

A run folder holds everything one training run writes::

    run/
      run.json                            what the weights are trained with: settings, data, model
      checkpoints/epoch-0003.weights.h5   model + optimizer state after epoch 3
      checkpoints/state.json              {"epoch": 3, "weights": ..., "random_state": ..., "history": {...}}
      history.csv                         one row per completed epoch
      metrics.json                        final figures
      .lock                               held by the one process that uses the folder

Three promises:

* **Kill-safe.** Every file is written to a temporary name, flushed and renamed into place
  (:mod:`course.io`), so a run killed at any instant leaves the previous checkpoint intact.
  ``state.json`` is written last and is the single source of truth: the weights it names,
  the random state and the history it holds belong to the same epoch. Temporary files a
  kill leaves behind are removed when the folder is next used.
* **The same run.** A resumed run restores weights, every optimizer's state (step count
  and moments, so learning-rate schedules continue), every random generator's state, and
  sees each epoch's data in the order an uninterrupted run would have (data.EpochOrder).
* **Never under other settings.** ``run.json`` records the settings, a fingerprint of the
  data and a description of the model; resuming with anything different is refused with
  the list of differences. One process at a time: the folder is locked while in use.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import keras
import numpy as np

from .data import set_epoch
from .errors import RunFolderError
from .io import FileLock, atomic_path, clean_stale_temp, write_json_atomic, write_text_atomic
from .plotting import grid_image, save_png
from .version import __version__

STATE_FILE = "state.json"
RUN_FILE = "run.json"


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

    def __fspath__(self) -> str:
        return str(self.path)

    def lock(self) -> FileLock:
        """The folder's lock (a context manager): one process per run folder."""
        return FileLock(self.path / ".lock", what=f"The run folder {self.path}")

    def clean(self) -> list[Path]:
        """Remove temporary files a killed process left here (call while holding :meth:`lock`)."""
        return clean_stale_temp(self.path)

    @property
    def state_path(self) -> Path:
        return self.checkpoints / STATE_FILE

    def state(self) -> dict | None:
        """The last checkpoint's state (epoch, weights file, history), or None."""
        return self._read(self.state_path, "delete the checkpoints folder to start over")

    def record(self) -> dict | None:
        """What the run's weights are trained with (``run.json``), or None for a new folder."""
        return self._read(self.path / RUN_FILE, "delete the run folder to start over")

    def _read(self, path: Path, fix: str) -> dict | None:
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunFolderError(f"{path} is corrupt ({err}); {fix}.") from None

    def write_history_csv(self, history: dict[str, list]) -> None:
        keys = list(history)
        rows = len(next(iter(history.values()), []))
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["epoch"] + keys)
        for i in range(rows):
            writer.writerow([i + 1] + [history[k][i] for k in keys])
        write_text_atomic(self / "history.csv", buf.getvalue())


def copy_to_continue(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy the run folder ``source`` to ``target`` (unless ``target`` exists) to continue it there with
    ``resume``: its checkpoints and history, not its final figures (``metrics.json``) or its lock, so the copy
    counts as unfinished until its own run ends. How a 20-epoch DCGAN is its 5-epoch run continued."""
    if not Path(target).exists():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("metrics.json", ".lock"))


def read_history_csv(path: str | os.PathLike) -> dict[str, list[float]]:
    """Read a ``history.csv`` back into ``{metric: [value per epoch]}``."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [float(r[k]) for r in rows] for k in keys}


@contextmanager
def writable_run(out: str | os.PathLike, chief: bool = True) -> Iterator[RunFolder]:
    """The run folder this process trains into: ``out`` for the chief (or a single process); for every
    other worker of a multi-machine run, a scratch folder of its own, deleted afterwards.

    Workers of one run must take the same steps, so a worker starts from the chief's last
    checkpoint (copied, read only) but writes nothing into ``out``, takes no lock on it, and never
    removes a file there: on shared storage, writers would rename and delete each other's files.
    """
    if chief:
        yield RunFolder(out)
        return
    shared = Path(out)
    scratch = Path(tempfile.mkdtemp(prefix="course-worker-"))
    try:
        run = RunFolder(scratch / "run")
        if (shared / "checkpoints" / STATE_FILE).is_file():
            state = json.loads((shared / "checkpoints" / STATE_FILE).read_text())
            run.checkpoints.mkdir(parents=True, exist_ok=True)
            if (shared / RUN_FILE).is_file():
                shutil.copy2(shared / RUN_FILE, run.path / RUN_FILE)
            for name in (STATE_FILE, state["weights"]):
                shutil.copy2(shared / "checkpoints" / name, run.checkpoints / name)
        yield run
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_folder(name: str, root: str | os.PathLike | None = None, model: keras.Model | None = None,
               **settings) -> RunFolder:
    """A run folder named from everything the run depends on: ``ROOT/NAME-<digest>``.

    The digest covers ``settings`` and, given the compiled ``model``, its whole recipe
    (:func:`describe_model`: weight shapes, every optimizer with its learning rate and its moving average's
    momentum, the model's own settings). Notebooks train with this, so changing any parameter -- Adam's rate
    included -- trains a new run, while re-running the same settings (after a disconnect, say) resumes the old
    one. A run an earlier release started and named without what its description lacked then
    (:data:`ADDED_IN_FORM_2`) is found under its own name and continues there. ``root`` defaults to the
    ``runs`` folder in the course's home (:func:`course.config.home`); :func:`list_runs` lists what is there.
    """
    from .config import runs_dir

    folder = Path(root or runs_dir())
    if model is None:
        return RunFolder(folder / f"{name}-{_folder_digest(settings)}")
    description = describe_model(model)
    path = folder / f"{name}-{_folder_digest({'settings': settings, 'model': description})}"
    earlier = {**description, "optimizers": [{k: v for k, v in entry.items() if k not in ADDED_IN_FORM_2}
                                             for entry in description["optimizers"]]}
    if earlier != description and not (path / RUN_FILE).is_file():
        # the same run, named by an earlier release (its description had less in it): continue it there
        old = folder / f"{name}-{_folder_digest({'settings': settings, 'model': earlier})}"
        try:
            recorded = json.loads((old / RUN_FILE).read_text()) if (old / RUN_FILE).is_file() else None
        except (OSError, ValueError):  # not readable: not a run to continue
            recorded = None
        # an earlier release's run with epochs to continue (one killed before its first checkpoint has none:
        # it starts again under today's name, and a folder this release wrote into is found by today's name)
        if isinstance(recorded, dict) and recorded.get("record_format", 1) < 2 and (
                old / "checkpoints" / STATE_FILE).is_file():
            return RunFolder(old)
    return RunFolder(path)


def _folder_digest(recipe) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:8]


def list_runs(root: str | os.PathLike | None = None, prefix: str = "") -> list[dict]:
    """The runs in ``root`` (default: the course home's ``runs`` folder) whose name starts with ``prefix``:
    folder, epochs done and settings, one line each (also printed). Delete a run by deleting its folder
    (``shutil.rmtree(path)``, or ``rm -r`` in a terminal)."""
    from .config import runs_dir

    rows = []
    folder = Path(root or runs_dir())
    for path in sorted(folder.glob(f"{prefix}*")) if folder.is_dir() else []:
        if not (path / RUN_FILE).is_file():
            continue
        run = RunFolder(path)
        try:
            state, record = run.state(), run.record() or {}
        except RunFolderError:
            state, record = None, {}
        rows.append({"path": str(path), "epochs": (state or {}).get("epoch", 0), "settings": record.get("settings", {})})
    for row in rows:
        print(f"{row['path']}: {row['epochs']} epoch(s), {json.dumps(row['settings'], sort_keys=True, default=str)}")
    if not rows:
        print(f"No runs in {folder}{' named ' + prefix + '*' if prefix else ''}.")
    return rows


# --------------------------------------------------------------------------- what a run is trained with


def optimizers_of(model: keras.Model) -> list:
    """The optimizers a model owns: ``model.optimizers`` of a multi-network model, else ``model.optimizer``."""
    found = getattr(model, "optimizers", None)
    if found:
        return list(found)
    return [model.optimizer] if getattr(model, "optimizer", None) is not None else []


def _variables_for(model: keras.Model, optimizer) -> list:
    owner = getattr(model, "variables_for", None)
    return owner(optimizer) if owner else model.trainable_variables


def random_state_variables(model: keras.Model) -> list:
    """The states of every random generator in ``model`` (its own, Dropout's, augmentation's, ...).

    ``save_weights`` does not keep them; checkpoints do, so a resumed run draws the noise
    an uninterrupted one would have drawn.
    """
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _learning_rate(optimizer):
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's wrapped optimizer
    rate = getattr(inner, "_learning_rate", None)
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return {"schedule": type(rate).__name__, **rate.get_config()}
    return float(f"{float(keras.ops.convert_to_numpy(inner.learning_rate)):.7g}")  # float32's digits


def _describe_optimizer(optimizer) -> dict:
    """An optimizer's class and learning rate, and the momentum of its weights' moving average when it keeps
    one (``use_ema``)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    description = {"class": type(inner).__name__, "learning_rate": _learning_rate(optimizer)}
    if getattr(inner, "use_ema", False):
        description["ema_momentum"] = float(inner.ema_momentum)
    return description


#: The form of ``run.json`` this release writes (its key ``record_format``; records without it are form 1).
#: Form 2 describes each optimizer's moving-average momentum (:data:`ADDED_IN_FORM_2`).
RECORD_FORMAT = 2

#: What an optimizer's description holds since form 2. A form-1 run (an earlier release) is compared on
#: everything else, with a note, not refused for a value it could not have written.
ADDED_IN_FORM_2 = ("ema_momentum",)


def _unrecorded_keys(recorded_model, current_model) -> tuple[dict | None, list[str]]:
    """``current_model`` less the :data:`ADDED_IN_FORM_2` entries of its optimizers that a form-1 run's
    description (``recorded_model``) lacks, and the dotted names of those entries."""
    if not isinstance(recorded_model, dict) or not isinstance(current_model, dict):
        return current_model, []
    old, new = recorded_model.get("optimizers"), current_model.get("optimizers")
    if not isinstance(old, list) or not isinstance(new, list):
        return current_model, []
    dropped, optimizers = [], []
    for i, entry in enumerate(new):
        before = old[i] if i < len(old) and isinstance(old[i], dict) else None
        if before is not None and isinstance(entry, dict):
            missing = [k for k in ADDED_IN_FORM_2 if k in entry and k not in before]
            dropped += [f"model.optimizers.{i}.{k} ({entry[k]!r} now)" for k in missing]
            entry = {k: v for k, v in entry.items() if k not in missing}
        optimizers.append(entry)
    return {**current_model, "optimizers": optimizers}, dropped


def describe_model(model: keras.Model) -> dict:
    """What the checkpoint's weights must fit: variable shapes, optimizers and their learning rates (and the
    momentum of their weights' moving average, where they keep one), and the model's own settings
    (``get_config`` of the course's models)."""
    description = {
        "weights": [list(v.shape) for v in model.weights],
        "optimizers": [_describe_optimizer(o) for o in optimizers_of(model)],
    }
    recipe = getattr(model, "recipe", None)
    if callable(recipe):
        description["model"] = recipe()
    return description


def _flatten(value, prefix: str = "") -> dict:
    """``{"a": {"b": 1}, "c": [{"d": 2}]}`` -> ``{"a.b": 1, "c.0.d": 2}`` (lists of numbers stay whole)."""
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value) and prefix != "model.weights":
        value = dict(enumerate(value))
    if isinstance(value, dict) and value:
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def differences(recorded: dict, current: dict) -> list[str]:
    """Lines ``key: recorded -> current`` for every setting that differs (nested keys dotted)."""
    old, new = (_flatten(json.loads(json.dumps(d, default=str))) for d in (recorded, current))  # tuples -> lists
    lines = []
    for key in sorted(set(old) | set(new)):
        if old.get(key, "(not set)") != new.get(key, "(not set)"):
            a, b = old.get(key, "(not set)"), new.get(key, "(not set)")
            if key == "model.weights":
                a, b = f"{len(a)} weight tensors {_digest(a)}", f"{len(b)} weight tensors {_digest(b)}"
            lines.append(f"  {key}: {a!r} in the run, {b!r} now")
    return lines


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:8]


def environment() -> dict:
    """What a run's arithmetic depends on beyond its settings: the Keras backend and Keras' version.

    A checkpoint restores exactly only where both are the same: another backend has other kernels,
    random-number generators and seed-generator states, another Keras version may save or
    initialise differently."""
    return {"backend": keras.backend.backend(), "keras": keras.__version__}


def check_same_run(run: RunFolder, record: dict, upgrade: Callable[[dict], dict] | None = None) -> None:
    """Refuse to continue ``run`` under anything but the settings, backend and Keras version its
    weights were trained with. ``upgrade`` maps the settings the run recorded (perhaps under an earlier
    release, in an earlier form) to what they mean now, before they are compared. What a run an earlier
    release recorded could not hold (:data:`ADDED_IN_FORM_2`) is not compared; a note says so."""
    recorded = run.record()
    if recorded is None:
        return
    if upgrade is not None and isinstance(recorded.get("settings"), dict):
        recorded = {**recorded, "settings": upgrade(recorded["settings"])}
    if "course_version" in record and recorded.get("course_version") != record["course_version"]:
        print(f"Note: {run.path} was started with course {recorded.get('course_version')}; "
              f"this is course {record.get('course_version')}.")
    compared = [k for k in ("settings", "data", "model", "backend", "keras") if k in record]
    unrecorded = []
    if "model" in record and recorded.get("record_format", 1) < 2:
        model, unrecorded = _unrecorded_keys(recorded.get("model"), record["model"])
        record = {**record, "model": model}
    lines = differences({k: recorded.get(k) for k in compared}, {k: record.get(k) for k in compared})
    if unrecorded and not lines:
        print(f"Note: {run.path} was recorded by an earlier release, which did not record "
              f"{', '.join(unrecorded)}; the run continues with today's value, which could not be compared with "
              "the run's own.")
    if lines:
        moved = [k for k in ("backend", "keras") if k in compared and recorded.get(k) != record.get(k)]
        where = ""
        if moved:
            where = (f"\nA run continues exactly only on the backend and Keras version it started with: continue it "
                     f"with KERAS_BACKEND={recorded.get('backend')} and Keras {recorded.get('keras')} "
                     f"(pip install \"keras=={recorded.get('keras')}\"), or start a new run in another folder.")
        raise RunFolderError(
            f"{run.path} holds a run trained with other settings; it was not changed:\n" + "\n".join(lines) + where
            + "\nEither continue it with its own settings (those 'in the run'), or train a new run in another "
              "folder (--out on the command line; notebooks name a new folder for new settings).")


# --------------------------------------------------------------------------- callbacks of a run


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (wall time of the epoch) to the logs, so history keeps it."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


class EpochOrderSync(keras.callbacks.Callback):
    """Before each epoch, tell the course's pipelines in ``data`` which epoch it is (their shuffle order)."""

    def __init__(self, data):
        super().__init__()
        self.data = data

    def on_epoch_begin(self, epoch, logs=None):
        set_epoch(self.data, epoch)


class ResumableCheckpoint(keras.callbacks.Callback):
    """After every epoch, save model + optimizer state, random state and the history, atomically.

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
        random_state = [keras.ops.convert_to_numpy(v.value).tolist() for v in random_state_variables(self.model)]
        write_json_atomic(self.run.state_path, {"epoch": epoch + 1, "weights": weights.name,
                                                "random_state": random_state, "history": self.history})
        self.run.write_history_csv(self.history)
        self._prune(keep_name=weights.name)

    def _prune(self, keep_name: str) -> None:
        old = sorted(p for p in self.run.checkpoints.glob("epoch-*.weights.h5") if p.name != keep_name)
        for p in old[: max(0, len(old) - (self.keep - 1))]:
            p.unlink(missing_ok=True)


# --------------------------------------------------------------------------- restore and fit


def restore(model: keras.Model, run: RunFolder) -> tuple[int, dict[str, list]]:
    """Load the last checkpoint of ``run`` into a compiled ``model``.

    Returns ``(epochs_done, history)``; ``(0, {})`` when the run has no checkpoint.
    The optimizers are built first so their state (step count, moments) is restored too;
    the random generators get the state they had when the checkpoint was written.
    """
    state = run.state()
    if state is None:
        return 0, {}
    weights = run.checkpoints / state["weights"]
    if not weights.is_file():
        raise RunFolderError(f"{run.state_path} names {weights.name}, which is missing; "
                             "delete the checkpoints folder to start over.")
    for opt in optimizers_of(model):
        if not opt.built:
            opt.build(_variables_for(model, opt))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(weights)
    for warning in caught:
        if "Skipping variable loading" in str(warning.message):  # Keras warns and goes on: the state would be lost
            raise RunFolderError(
                f"{weights} does not fit this model: {warning.message} The run was trained with other settings "
                "(for example an optimizer with or without use_ema); continue it with its own, or train a new "
                "run in another folder.")
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    saved = state.get("random_state")
    if saved is not None:
        generators = random_state_variables(model)
        if len(saved) != len(generators):
            raise RunFolderError(f"{run.state_path} holds {len(saved)} random states but the model has "
                                 f"{len(generators)} random generators: it is not this model's checkpoint.")
        for variable, value in zip(generators, saved):
            variable.assign(np.asarray(value, dtype=keras.backend.standardize_dtype(variable.dtype)))
    return int(state["epoch"]), state.get("history", {})


def fit_resumable(
    model: keras.Model,
    x,
    y=None,
    *,
    epochs: int,
    run: RunFolder | str | os.PathLike,
    resume: bool = True,
    settings: dict | None = None,
    data_fingerprint: dict | None = None,
    validation_data=None,
    callbacks: list | None = None,
    verbose: int | str = "auto",
    upgrade_settings: Callable[[dict], dict] | None = None,
) -> dict[str, list[float]]:
    """``model.fit(x, y)`` that checkpoints every epoch into ``run`` and resumes from it.

    With ``resume=True`` a run folder that already has checkpoints continues from the
    last completed epoch, its history kept; with ``resume=False`` such a folder is an
    error (nothing is overwritten by accident). A run continues only under the settings
    it was started with: ``settings`` (what the caller chose: dataset, batch size, ...),
    ``data_fingerprint`` and the model's description (:func:`describe_model`) are stored
    in ``run.json`` and compared on resume (the recorded ones through ``upgrade_settings``, where
    given: :func:`check_same_run`). ``epochs`` is the total; leave it out of
    ``settings`` where a run may be extended (no schedule depends on it). The folder is
    locked while training. Returns the whole history, all epochs, including those
    before the resume.
    """
    run = run if isinstance(run, RunFolder) else RunFolder(run)
    with run.lock():
        run.clean()
        record = {"settings": settings or {}, "data": data_fingerprint or {}, "model": describe_model(model),
                  "course_version": __version__, "record_format": RECORD_FORMAT, **environment()}
        done, history = 0, {}
        state = run.state()
        if state is not None:
            if not resume:
                raise RunFolderError(
                    f"{run.path} already holds a run (checkpoint after epoch {state['epoch']}). "
                    "Resume it with --resume (resume=True), or choose another output folder.")
            check_same_run(run, record, upgrade_settings)
            if epochs < state["epoch"]:
                raise RunFolderError(f"{run.path} has trained {state['epoch']} epochs already; asking for {epochs} "
                                     "would not undo them. Ask for at least as many, or use another folder.")
            done, history = restore(model, run)
            if verbose:
                print(f"Resuming from {run.path}: {done} epoch(s) done, {max(0, epochs - done)} to go.")
        else:
            write_json_atomic(run / RUN_FILE, record)
        checkpoint = ResumableCheckpoint(run, history)
        if done < epochs:
            model.fit(
                x,
                y,
                shuffle=isinstance(x, np.ndarray),  # the course's pipelines shuffle themselves (data.EpochOrder)
                epochs=epochs,
                initial_epoch=done,
                validation_data=validation_data,
                # the caller's callbacks run before the checkpoint, so what they add to the logs
                # (e.g. a per-epoch measurement) is kept in the history
                callbacks=[EpochOrderSync(x), EpochTimer(), *(callbacks or []), checkpoint],
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

    def __init__(self, make_images: Callable[[keras.Model], np.ndarray], folder, latest=None, ncols=10,
                 info: dict | None = None):
        super().__init__()
        self.make_images, self.folder, self.latest, self.ncols = make_images, Path(folder), latest, ncols
        self.info = info  # PNG text fields: what generated the pictures

    def on_epoch_end(self, epoch, logs=None):
        grid = grid_image(self.make_images(self.model), ncols=self.ncols)
        save_png(self.folder / f"epoch-{epoch + 1:04d}.png", grid, info=self.info)
        if self.latest is not None:
            save_png(self.latest, grid, info=self.info)


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
