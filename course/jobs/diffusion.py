"""The lesson-06 diffusion model's train job: ``python -m course train diffusion [--conditional]``.

Trains a small U-Net to predict noise (images scaled to [-1, 1]); at the end the moving average of
the weights becomes the weights, and the job writes ``samples.png`` (a grid from fixed noise; rows of
one class each when conditional), ``progress.gif`` (the reverse process from pure noise to digits on
that grid), ``samples.npz`` (``cfg.samples`` uint8 images from a fixed seed, key ``samples``; with
``labels`` when conditional), ``network.keras``, checkpoints and ``metrics.json``, which scores the
samples with the lesson-01 classifier (Fréchet distance, KID, class histogram and, when
conditional, how often the classifier reads the asked class).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from .. import data, plotting
from ..errors import CourseError, ShapeError
from ..io import atomic_path
from ..models import diffusion
from ..models.base import steps_per_epoch
from ..runs import load_saved_model, write_gif
from .base import RunConfig, TrainJob, run_record, save_model
from .evaluators import score_samples


@dataclass
class TrainConfig(RunConfig):
    """Settings of one diffusion run (the command line's flags)."""

    epochs: int = 10
    batch_size: int = 16  # small batches: more optimizer steps per CPU-minute (lesson 06 measures 16, 32, 64)
    learning_rate: float = 1e-3
    width: int = 16  # channels of the U-Net's first level (then 4x and 8x; at most 8 in fast mode)
    schedule: Literal["linear", "cosine"] = "cosine"
    timesteps: int = diffusion.TIMESTEPS
    conditional: bool = False  # class-conditional, trained with label dropout for classifier-free guidance
    label_dropout: float = 0.1  # conditional: how often a label is replaced by the null class in training
    ema: float = 0.999  # momentum of the weights' moving average (0: none)
    weighting: Literal["simple", "min_snr"] = "min_snr"  # the loss's weight per timestep (simple: all equal)
    samples: int = 2000  # generated images scored at the end
    sampler: Literal["ddim", "ddpm"] = "ddim"
    sample_steps: int = 50  # DDIM steps for the scored samples (the DDPM sampler takes all timesteps)
    eta: float = 1.0  # DDIM's noise: 0 deterministic, 1 fresh noise at every step (chosen on training images: see lesson 06)
    guidance: float = 3.0  # conditional: classifier-free guidance weight of the scored samples (1: none)


#: Fast mode's caps on DDIM steps and on the U-Net's width (the samples of a fast run are for a look,
#: not a figure; a quarter of the arithmetic keeps the fast job, lesson 05's and CI's, short).
FAST_SAMPLE_STEPS = 10
FAST_WIDTH = 8


def effective_ema(cfg, steps: int) -> float:
    """The moving average's momentum: ``cfg.ema``, but never averaging over more than a tenth of the run's
    ``steps`` (a fast run of ~100 steps would otherwise keep mostly the initial weights)."""
    if cfg.ema <= 0:
        return 0.0
    return float(min(cfg.ema, max(0.0, 1.0 - 10.0 / max(1, steps))))


def recorded_momentum(run) -> float | None:
    """The moving average's momentum a run folder recorded (its model's first optimizer): 0.0 for a run without
    an average; None where nothing says: no record, or one an earlier release wrote before the momentum was
    recorded (such a run continues with :func:`effective_ema`'s)."""
    record = run.record() or {}
    optimizers = (record.get("model") or {}).get("optimizers") or [{}]
    momentum = optimizers[0].get("ema_momentum") if isinstance(optimizers[0], dict) else None
    if isinstance(momentum, (int, float)) and not isinstance(momentum, bool):
        return float(momentum)
    return 0.0 if record.get("record_format", 1) >= 2 else None  # form 2 records every momentum there is


def labelled_input(ds):
    """``(images, labels)`` batches as the model's *input* (what a conditional model's ``call`` reads),
    for ``fit``: ``((images, labels),)`` instead of ``(x, y)``."""
    if keras.backend.backend() == "tensorflow":
        paired = ds.map(lambda x, y: ((x, y),))
        paired._course_orders = ds._course_orders
        return paired
    return _LabelledInput(ds)


class _LabelledInput(keras.utils.PyDataset):
    """:func:`labelled_input` for NumPy batches (JAX, PyTorch)."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches
        self._course_orders = batches._course_orders

    def __len__(self):
        return len(self.batches)

    def on_epoch_begin(self):
        self.batches.on_epoch_begin()

    def on_epoch_end(self):
        self.batches.on_epoch_end()

    def __getitem__(self, i):
        x, y = self.batches[i]
        return ((x, y),)


def grid_labels(n: int = 100, classes: int = 10) -> np.ndarray:
    """Labels of a sample grid: row ``r`` of 10 shows class ``r % classes``."""
    return (np.arange(n) // 10) % classes


def asked_labels(n: int, classes: int = 10, first: int = 0) -> np.ndarray:
    """The classes asked for in a scored set: each class equally often, in turn (``first``: the set goes on
    after that many samples, as the top-up of a judging pool does)."""
    return np.arange(first, first + n) % classes


class DiffusionJob(TrainJob):
    name = "diffusion"
    Config = TrainConfig
    extendable = True  # a constant learning rate: more epochs continue the same run
    measurement_only = frozenset({"samples", "sampler", "sample_steps", "guidance", "eta"})
    sample_seconds = None  # wall time of generating the scored samples (set by save)
    kept_momentum = None  # the moving average's momentum of the run being continued, from its run.json (set by fit)

    @staticmethod
    def momentum(model) -> float | None:
        """The momentum of the weights' moving average the model trains with (None: no average)."""
        optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # under a loss-scale wrapper
        return float(optimizer.ema_momentum) if getattr(optimizer, "use_ema", False) else None

    def fit(self, cfg, run, policy, *, resume=False, data_dir=None, verbose="auto"):
        """The base job's, and a run continued keeps the momentum of its weights' moving average: chosen when
        the run started (capped by its length then: :func:`effective_ema`) and recorded in its ``run.json``, so
        that more epochs continue the same average instead of one capped by the longer run. A run an earlier
        release started did not record it: it continues, at each resume, with the cap of the length asked."""
        self.kept_momentum = recorded_momentum(run) if resume and run.state() is not None else None
        return super().fit(cfg, run, policy, resume=resume, data_dir=data_dir, verbose=verbose)

    def build(self, cfg, d):
        if len(d.x_train) < d.batch_size:
            raise ShapeError(f"{len(d.x_train)} training images is less than one batch of {d.batch_size}; "
                             "lower --batch-size.")
        if cfg.timesteps < 2:
            raise CourseError(f"--timesteps must be at least 2, got {cfg.timesteps}.")
        if not 0 <= cfg.label_dropout < 1 or not 0 <= cfg.ema < 1:
            raise CourseError("--label-dropout and --ema must be in [0, 1).")
        if not 0 <= cfg.eta <= 1:
            raise CourseError(f"--eta must be in [0, 1] (0: deterministic DDIM, 1: fresh noise at every step), got {cfg.eta}.")
        steps = steps_per_epoch(len(d.x_train), d.batch_size) * d.epochs
        ema = effective_ema(cfg, steps)
        if cfg.ema > 0 and self.kept_momentum is not None:  # a run continued (perhaps extended): its own average
            ema = self.kept_momentum
        classes = len(d.loaded.class_names) if cfg.conditional else None
        return diffusion.make_diffusion(d.image_shape, self.width(cfg), cfg.schedule, cfg.timesteps, classes,
                                        cfg.label_dropout, seed=cfg.seed, learning_rate=cfg.learning_rate,
                                        ema=ema, steps_per_execution=cfg.steps_per_execution,
                                        weighting=cfg.weighting)

    def feed(self, cfg, d):
        # [-1, 1]: the forward process ends in N(0, I), which matches only data of that scale (D2)
        if cfg.conditional:
            return labelled_input(data.pipeline(d.x_train, d.y_train, batch_size=d.batch_size, shuffle=True,
                                                 seed=cfg.seed, scale="symmetric")), None
        return data.pipeline(d.x_train, batch_size=d.batch_size, shuffle=True, seed=cfg.seed, scale="symmetric"), None

    @staticmethod
    def steps(cfg) -> int:
        """DDIM steps of the samples: ``cfg.sample_steps``, at most 10 in fast mode."""
        return min(cfg.sample_steps, FAST_SAMPLE_STEPS) if cfg.fast else cfg.sample_steps

    @staticmethod
    def width(cfg) -> int:
        """Channels of the U-Net's first level: ``cfg.width``, at most 8 in fast mode."""
        return min(cfg.width, FAST_WIDTH) if cfg.fast else cfg.width

    def settings(self, cfg, policy: str | None = None) -> dict:
        """The base job's settings, with the width the network has (fast mode's cap applied)."""
        return {**super().settings(cfg, policy), "width": self.width(cfg)}

    def _sample(self, cfg, model, n, seed, first: int = 0, **kwargs):
        labels = asked_labels(n, model.num_classes, first) if model.conditional else None
        return model.sample(n, sampler=cfg.sampler, steps=self.steps(cfg), labels=labels, seed=seed, eta=cfg.eta,
                            guidance=cfg.guidance if model.conditional else 1.0, **kwargs), labels

    def save(self, cfg, d, model, run, history):
        diffusion.use_averaged_weights(model)  # what fit() ends with; again for a run resumed when finished
        save_model(model.network, run / "network.keras")
        kind = "conditional diffusion" if model.conditional else "diffusion"
        steps = self.steps(cfg)
        info = plotting.generated_info(f"{kind} model (DDIM, {steps} steps, eta {cfg.eta:g})", run)
        grid = grid_labels(100, model.num_classes) if model.conditional else None
        images, frames = model.sample(100, sampler="ddim", steps=steps, labels=grid, seed=cfg.seed + 1, eta=cfg.eta,
                                      guidance=cfg.guidance if model.conditional else 1.0, batch_size=100,
                                      trajectory_every=max(1, steps // 10))
        plotting.save_png(run / "samples.png", plotting.grid_image(data.from_symmetric(images)), info=info)
        frames_dir = run / "reverse"
        for i, frame in enumerate(frames):
            plotting.save_png(frames_dir / f"epoch-{i + 1:04d}.png", plotting.grid_image(data.from_symmetric(frame)),
                              info=info)
        write_gif(frames_dir, run / "progress.gif")
        n = min(cfg.samples, d.test_examples_cap or cfg.samples)
        start = time.perf_counter()
        samples, labels = self._sample(cfg, model, n, seed=cfg.seed)
        self.sample_seconds = round(time.perf_counter() - start, 2)
        (run / MORE_SAMPLES).unlink(missing_ok=True)  # drawn from the weights before these
        with atomic_path(run / "samples.npz") as tmp:
            if labels is None:
                np.savez_compressed(tmp, samples=data.from_symmetric(samples))
            else:
                np.savez_compressed(tmp, samples=data.from_symmetric(samples), labels=labels.astype(np.int32))

    def measure(self, cfg, d, model, run, history, data_dir=None):
        with np.load(run / "samples.npz") as saved:
            samples = saved["samples"]
            labels = saved["labels"] if "labels" in saved.files else None
        result, fake_classes = score_samples(samples, d, cfg.dataset, fast=cfg.fast, data_dir=data_dir)
        result.update({
            "width": self.width(cfg),
            "sampler": cfg.sampler,
            "sample_steps": int(self.steps(cfg) if cfg.sampler == "ddim" else cfg.timesteps),
            "eta": cfg.eta if cfg.sampler == "ddim" else None,
            "sample_seconds": self.sample_seconds,
            "ema_momentum": self.momentum(model),
            "final_loss": round(history["loss"][-1], 5) if history.get("loss") else None,
        })
        if labels is not None:
            result["guidance"] = cfg.guidance
            result["asked_class_accuracy"] = round(float(np.mean(fake_classes == labels)), 4)
        return result

    def record(self, cfg, d, history):
        return run_record(self.name, cfg, d.loaded.source, history, examples=len(d.x_train), batch_size=d.batch_size)


def train(cfg: TrainConfig, out, *, resume: bool = False, data_dir=None, verbose="auto") -> dict:
    """Train a diffusion model into the run folder ``out``; returns (and writes) ``metrics.json``."""
    return DiffusionJob().train(cfg, out, resume=resume, data_dir=data_dir, verbose=verbose)


def load_network(path: str | Path) -> keras.Model:
    """Load ``network.keras`` (or the run folder holding it), with safe mode on."""
    return load_saved_model(path, "network.keras", "diffusion")


def load_model(run: str | Path) -> diffusion.Diffusion:
    """The trained model of a run folder, ready to sample: its network and the schedule of its settings."""
    import json

    meta = json.loads((Path(run) / "metrics.json").read_text())
    cfg = meta.get("config", {})
    network = load_network(run)
    classes = len(data.spec(meta["dataset"]).class_names) if cfg.get("conditional") else None
    return diffusion.Diffusion(network, diffusion.Schedule(cfg.get("schedule", "linear"),
                                                           cfg.get("timesteps", diffusion.TIMESTEPS)),
                               num_classes=classes, label_dropout=cfg.get("label_dropout", 0.1),
                               weighting=cfg.get("weighting", "simple"))


#: File in a run folder of the samples drawn after training to complete a judging pool (:func:`sample_pool`).
MORE_SAMPLES = "more_samples.npz"


def sample_pool(run: str | Path, n: int) -> np.ndarray:
    """``n`` uint8 samples of a finished run, drawn as its scored ones were: ``samples.npz`` first, then, when
    it holds fewer (lesson 05 judges from a pool of twice the scored set, so that every repeat redraws
    both sides), more drawn with the run's own sampler settings, new seeds and (conditional) the asked
    classes going on in turn, kept in ``more_samples.npz`` for the next call. The kept samples are used only
    with the network, saved samples and sampler settings they were drawn with; drawing takes the run's
    lock, so a run being trained (or another process drawing) is waited for. Drawing them takes about as
    long as drawing the run's scored samples did."""
    import dataclasses
    import hashlib
    import json

    from ..io import FileLock

    run = Path(run)
    with np.load(run / "samples.npz") as saved:
        images = saved["samples"]
    if len(images) >= n:
        return images[:n]
    with FileLock(run / ".lock", what=f"The run folder {run}", wait=True):
        with np.load(run / "samples.npz") as saved:  # again, under the lock: a trainer may have replaced it
            images = saved["samples"]
        meta = json.loads((run / "metrics.json").read_text())
        if not meta.get("config"):
            raise CourseError(f"{run}'s metrics.json names no settings (an older course version wrote it), so "
                              f"no more samples can be drawn as its {len(images)} were: train the run again, or "
                              f"judge it at n = {len(images) // 2} or less.")
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        cfg = TrainConfig(**{k: v for k, v in meta["config"].items() if k in names})
        drawn_as = {"sampler": cfg.sampler, "steps": DiffusionJob.steps(cfg), "eta": cfg.eta, "guidance": cfg.guidance,
                    "seed": cfg.seed}
        digest = hashlib.sha256()
        for name in ("network.keras", "samples.npz"):
            digest.update((run / name).read_bytes())
        digest.update(json.dumps(drawn_as, sort_keys=True).encode())
        of = digest.hexdigest()
        extra = np.zeros((0, *images.shape[1:]), images.dtype)
        labels = np.zeros((0,), np.int32)
        if (run / MORE_SAMPLES).is_file():
            with np.load(run / MORE_SAMPLES) as saved:
                if str(saved["of"]) == of:  # drawn by these weights, after these samples, with these settings
                    extra, labels = saved["samples"], saved["labels"]
        missing = n - len(images) - len(extra)
        if missing > 0:
            model = load_model(run)
            print(f"Drawing {missing} more samples of {run} to judge it from a pool of {n} (kept in {MORE_SAMPLES})",
                  flush=True)
            # drawn as the run's scored samples are (the job's own _sample), the asked classes going on in turn after
            # the saved ones, from seeds the run's samples (cfg.seed) and grid (cfg.seed + 1) did not use
            new, asked = DiffusionJob()._sample(cfg, model, missing, seed=cfg.seed + 1000 + len(extra),
                                                first=len(images) + len(extra))
            extra = np.concatenate([extra, data.from_symmetric(new)])
            asked = np.full(missing, -1) if asked is None else asked
            labels = np.concatenate([labels, asked.astype(np.int32)])
            with atomic_path(run / MORE_SAMPLES) as tmp:
                np.savez_compressed(tmp, samples=extra, labels=labels, of=np.array(of))
    return np.concatenate([images, extra])[:n]
