"""The lesson-02 DCGAN's train job: ``python -m course train dcgan``.

Writes ``samples.png`` (fixed-noise grid, refreshed every epoch), ``frames/`` and
``progress.gif``, ``generator.keras``, ``samples.npz`` (``cfg.samples`` uint8 images from a
fixed seed, key ``samples``), checkpoints of G, D, both optimizers and the epoch, and
``metrics.json``, which scores the samples with the lesson-01 classifier.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from .. import data, devices, metrics
from ..errors import CourseError, ShapeError
from ..evaluation import inception_features
from ..io import atomic_path
from ..models import dcgan
from ..models.base import steps_per_epoch
from ..runs import load_saved_model
from .base import RunConfig, TrainJob, finish_progress_gif, progress_frames, run_record, save_model
from .evaluators import score_samples


@dataclass
class TrainConfig(RunConfig):
    """Settings of one DCGAN run (the command line's flags)."""

    epochs: int = 20
    learning_rate: float = 2e-4
    latent_dim: int = dcgan.LATENT_DIM
    upsample: Literal["transpose", "resize"] = "transpose"
    g_loss: Literal["non_saturating", "minimax"] = "non_saturating"
    real_label: float = 1.0  # 0.9: one-sided label smoothing
    ema: float = 0.0  # momentum of a moving average of G's weights, used for the samples (0: none)
    samples: int = 10_000  # generated images scored at the end
    jit_compile: Literal["gpu", "always", "never"] = "gpu"  # XLA for the train step: on a GPU, any device, never

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.ema < 1:
            raise CourseError(f"--ema {self.ema:g}: the moving average's momentum must be in [0, 1) (0: none; "
                              "try 0.99).")


class DCGANJob(TrainJob):
    name = "dcgan"
    Config = TrainConfig
    extendable = True  # a constant learning rate: more epochs continue the same run
    measurement_only = frozenset({"samples"})

    def build(self, cfg, d):
        if len(d.x_train) < d.batch_size:
            raise ShapeError(f"{len(d.x_train)} training images is less than one batch of {d.batch_size}; "
                             "lower --batch-size.")
        return dcgan.make_dcgan(d.image_shape, cfg.latent_dim, cfg.upsample, seed=cfg.seed,
                                learning_rate=cfg.learning_rate, g_loss=cfg.g_loss, real_label=cfg.real_label,
                                jit_compile=cfg.jit_compile, steps_per_execution=cfg.steps_per_execution,
                                ema=cfg.ema)

    def upgrade_settings(self, recorded: dict) -> dict:
        """The base job's, and no ``ema`` (a run started before the option existed) as no moving average."""
        settings = super().upgrade_settings(recorded)
        settings.setdefault("ema", 0.0)
        return settings

    def feed(self, cfg, d):
        return data.pipeline(d.x_train, batch_size=d.batch_size, shuffle=True, seed=cfg.seed, scale="symmetric",
                             drop_remainder=True), None

    def callbacks(self, cfg, d, model, run, data_dir=None):
        grid_noise = dcgan.fixed_noise(100, cfg.latent_dim)
        return [progress_frames(run, lambda m: data.from_symmetric(m.generator(grid_noise, training=False)),
                                model="DCGAN generator")]

    def save(self, cfg, d, model, run, history):
        dcgan.use_averaged_weights(model)  # after the last checkpoint, which keeps the raw weights
        finish_progress_gif(run)
        save_model(model.generator, run / "generator.keras")
        samples = dcgan.sample(model.generator, min(cfg.samples, d.test_examples_cap or cfg.samples), seed=cfg.seed)
        with atomic_path(run / "samples.npz") as tmp:
            np.savez_compressed(tmp, samples=samples)

    def measure(self, cfg, d, model, run, history, data_dir=None):
        with np.load(run / "samples.npz") as saved:
            samples = saved["samples"]
        result, _ = score_samples(samples, d, cfg.dataset, fast=cfg.fast, data_dir=data_dir)
        trained = bool(history.get("d_loss"))
        result["final_D(x)"] = round(history["D(x)"][-1], 4) if trained else None
        result["final_D(G(z))"] = round(history["D(G(z))"][-1], 4) if trained else None
        if d.image_shape[-1] == 3:  # colour images: add true FID when Inception-v3 weights are available
            result.update(_inception_fid(samples, d.x_test))
        return result

    def record(self, cfg, d, history):
        return run_record(self.name, cfg, d.loaded.source, history, examples=len(d.x_train), batch_size=d.batch_size,
                          images_per_epoch=steps_per_epoch(len(d.x_train), d.batch_size) * d.batch_size)


def _inception_fid(samples: np.ndarray, real: np.ndarray) -> dict:
    """``fid_inception`` on up to 2,000 images per side without a GPU (10,000 with one), or a note why not."""
    n = min(len(samples), len(real), 10_000 if devices.gpus() else 2_000)
    fake_features, reason = inception_features(samples[:n])
    if fake_features is None:
        return {"fid_inception": None, "fid_inception_note": reason + "; only fid_classifier is reported."}
    real_features, _ = inception_features(real[:n])
    return {"fid_inception": round(metrics.frechet_distance(fake_features, real_features), 3),
            "fid_inception_note": f"Inception-v3 pool features, {n} samples vs {n} real test images."}


def train(cfg: TrainConfig, out, *, resume: bool = False, data_dir=None, verbose="auto") -> dict:
    """Train a DCGAN into the run folder ``out``; returns (and writes) ``metrics.json``."""
    return DCGANJob().train(cfg, out, resume=resume, data_dir=data_dir, verbose=verbose)


def load_generator(path: str | Path) -> keras.Model:
    """Load ``generator.keras`` (or the run folder holding it), with safe mode on."""
    return load_saved_model(path, "generator.keras", "dcgan")
