"""The lesson-04 CycleGAN's train job: ``python -m course train cyclegan --dataset mnist_m``.

Domain A is MNIST, domain B ``cfg.dataset`` (MNIST-M). A and B train on disjoint halves
of the training digits. Writes ``samples.png`` (a, G(a), F(G(a)), b, F(b), G(F(b)) on fixed
test images, refreshed every epoch; also ``frames/`` and ``progress.gif``),
``G_A_to_B.keras``, ``F_B_to_A.keras``, checkpoints of the four networks, four optimizers
and both pools, ``history.csv`` (every loss term and ``b_to_a_accuracy`` per epoch) and
``metrics.json`` with ``label_preservation_accuracy``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from .. import data
from ..errors import ShapeError
from ..evaluation import LabelPreservation, label_preservation, predict_classes
from ..metrics import accuracy
from ..models import cyclegan as cg
from ..models.base import apply_in_batches, steps_per_epoch
from ..runs import load_saved_model
from .base import RunConfig, TrainJob, finish_progress_gif, load_run_data, progress_frames, run_record, save_model
from .evaluators import evaluator

DOMAIN_A = "mnist"
SHOWN = 8  # test digits drawn in samples.png


@dataclass
class TrainConfig(RunConfig):
    """Settings of one CycleGAN run (the command line's flags)."""

    dataset: str = "mnist_m"  # domain B; domain A is MNIST
    epochs: int = 24
    batch_size: int = 32
    learning_rate: float = 5e-4
    generator: Literal["unet", "resnet"] = "unet"
    width: int = 16  # generator filters at full resolution
    residual_blocks: int = 1
    d_width: int = 32  # discriminator filters
    cycle_weight: float = 10.0  # lambda of the A->B->A round trip
    cycle_weight_b: float | None = 1.0  # lambda of the B->A->B round trip; None: the same as cycle_weight
    identity_weight: float = 5.0
    pool_size: int = 128  # past fakes kept for the discriminators
    adversarial: Literal["lsgan", "bce"] = "lsgan"
    validation_examples: int = 1000  # paired training digits held out to monitor and choose the recipe
    jit_compile: Literal["gpu", "always", "never"] = "gpu"  # XLA for the train step: on a GPU, any device, never


@dataclass
class Domains:
    """Both domains' images: unpaired training halves, paired validation and test digits."""

    source_a: str
    train_a: np.ndarray
    train_b: np.ndarray
    val_a: np.ndarray
    val_b: np.ndarray
    y_val: np.ndarray
    test_a: np.ndarray
    test_b: np.ndarray


class CycleGANJob(TrainJob):
    name = "cyclegan"
    Config = TrainConfig
    extendable = False  # the learning rate decays over the run's epochs: a longer run is a new run

    def load(self, cfg, data_dir=None):
        """B (``cfg.dataset``) through the shared fast-mode rules, A (MNIST) from the same digits."""
        if cfg.dataset != "mnist_m":
            raise ShapeError(f"CycleGAN here translates between MNIST and mnist_m; got --dataset {cfg.dataset}. "
                             "Use --dataset mnist_m.")
        d = load_run_data(self.name, cfg, data_dir)  # seeds; in fast mode keeps the first digits only
        loaded_a = data.load(DOMAIN_A, data_dir=data_dir)
        (x_a, _), (test_a, y_test_a) = loaded_a
        test_a = test_a[: len(d.x_test)]
        if not np.array_equal(y_test_a[: len(d.x_test)], d.y_test):
            raise ShapeError("the mnist_m test split is not built from the MNIST test digits")
        # Validation: paired training digits held out before the A/B split, to monitor the run and choose
        # its recipe; the test digits are measured once, at the end.
        train_a, train_b, val_a, d.x_val, d.y_val = data.translation_splits(
            x_a[: len(d.x_train)], d.x_train, d.y_train, min(cfg.validation_examples, len(d.x_train) // 8), cfg.seed)
        if min(len(train_a), len(train_b)) < d.batch_size:
            raise ShapeError(f"{min(len(train_a), len(train_b))} training images per domain is less than one "
                             f"batch of {d.batch_size}; lower --batch-size.")
        self.domains = Domains(loaded_a.source, train_a, train_b, val_a, d.x_val, d.y_val, data.to_domain_a(test_a),
                               d.x_test)
        return d

    def build(self, cfg, d):
        dom = self.domains
        return cg.make_cyclegan(
            cg.IMAGE_SHAPE, steps_per_epoch=steps_per_epoch(min(len(dom.train_a), len(dom.train_b)), d.batch_size),
            epochs=d.epochs, learning_rate=cfg.learning_rate, generator=cfg.generator, width=cfg.width,
            residual_blocks=cfg.residual_blocks, d_width=cfg.d_width,
            cycle_weight=(cfg.cycle_weight, cfg.cycle_weight if cfg.cycle_weight_b is None else cfg.cycle_weight_b),
            identity_weight=cfg.identity_weight, pool_size=max(cfg.pool_size, d.batch_size),
            adversarial=cfg.adversarial, seed=cfg.seed,
            jit_compile=self.jit_compile(cfg), steps_per_execution=cfg.steps_per_execution)

    @staticmethod
    def jit_compile(cfg) -> str:
        """XLA for the train step: ``cfg.jit_compile``, but never in fast mode (compiling costs ~25 s up
        front: worth it for a real run, not a fast one)."""
        return "never" if cfg.fast else cfg.jit_compile

    def settings(self, cfg, policy: str | None = None) -> dict:
        """The base job's settings, with the compilation the train step has (never in fast mode), so that a
        fast run resumes under any ``--jit-compile``: it computes the same."""
        return {**super().settings(cfg, policy), "jit_compile": self.jit_compile(cfg)}

    def upgrade_settings(self, recorded: dict) -> dict:
        """The base job's, and a fast run recorded as compiled the way it was asked (earlier releases) as what
        it ran: never compiled."""
        settings = super().upgrade_settings(recorded)
        if settings.get("fast"):
            settings["jit_compile"] = "never"
        return settings

    def feed(self, cfg, d):
        return data.unpaired_batches(self.domains.train_a, self.domains.train_b, d.batch_size, cfg.seed), None

    def callbacks(self, cfg, d, model, run, data_dir=None):
        dom = self.domains
        judge_a = evaluator(DOMAIN_A, fast=cfg.fast, data_dir=data_dir)  # the lesson-01 MNIST classifier
        judge_b = evaluator(cfg.dataset, fast=cfg.fast, data_dir=data_dir)  # an MNIST-M classifier
        return [LabelPreservation(dom.val_b, dom.y_val, judge_a, "b_to_a", key="val_b_to_a_accuracy"),
                LabelPreservation(dom.val_a, dom.y_val, judge_b, "a_to_b", key="val_a_to_b_accuracy"),
                progress_frames(run, lambda m: cg.side_by_side(m, dom.val_a[:SHOWN], dom.val_b[:SHOWN]),
                                ncols=SHOWN, model="CycleGAN: a, G(a), F(G(a)), b, F(b), G(F(b))")]

    def save(self, cfg, d, model, run, history):
        finish_progress_gif(run)
        for net in (model.g, model.f):
            save_model(net, run / f"{net.name}.keras")

    def measure(self, cfg, d, model, run, history, data_dir=None):
        dom = self.domains
        judge_a = evaluator(DOMAIN_A, fast=cfg.fast, data_dir=data_dir)
        judge_b = evaluator(cfg.dataset, fast=cfg.fast, data_dir=data_dir)  # an MNIST-M classifier

        def preservation(a, b, labels) -> dict:
            b_to_a = label_preservation(model.f, b, labels, judge_a, grey=True)
            a_to_b = label_preservation(model.g, a, labels, judge_b)
            return {"b_to_a": round(b_to_a, 4), "a_to_b": round(a_to_b, 4), "mean": round((a_to_b + b_to_a) / 2, 4)}

        x_a, x_b = data.to_symmetric(dom.test_a), data.to_symmetric(dom.test_b)
        cycle_a = float(np.mean(np.abs(apply_in_batches(model.f, apply_in_batches(model.g, x_a)) - x_a)))
        cycle_b = float(np.mean(np.abs(apply_in_batches(model.g, apply_in_batches(model.f, x_b)) - x_b)))
        untranslated_b = accuracy(d.y_test, predict_classes(judge_a, data.to_grey(dom.test_b)))
        return {
            "validation_examples": int(len(dom.y_val)),
            "test_examples": int(len(d.y_test)),
            "validation_label_preservation_accuracy": preservation(dom.val_a, dom.val_b, dom.y_val),
            "label_preservation_accuracy": preservation(dom.test_a, dom.test_b, d.y_test),
            "baseline_untranslated_accuracy": round(untranslated_b, 4),
            "baseline_untranslated_accuracy_a_to_b": round(accuracy(d.y_test, predict_classes(judge_b, dom.test_a)),
                                                           4),
            "label_preservation_note": (
                "label_preservation_accuracy is on the test digits, measured once, at the end; "
                "validation_label_preservation_accuracy on training digits held out before the A/B split (the "
                "figure recipes are compared on; the evaluator classifiers were trained on these digits, so it "
                "ranks recipes rather than predicting the test figure). b_to_a: the lesson-01 MNIST classifier's "
                "accuracy on F(b), channels averaged to grey; baseline_untranslated_accuracy: the same classifier "
                "on the untranslated test images. a_to_b: an mnist_m classifier (trained once, cached) on G(a); "
                "baseline_untranslated_accuracy_a_to_b: that classifier on untranslated MNIST."),
            "cycle_l1": round((cycle_a + cycle_b) / 2, 4),
            "cycle_l1_by_domain": {"a": round(cycle_a, 4), "b": round(cycle_b, 4)},
            "cycle_l1_note": "mean |F(G(a)) - a| and |G(F(b)) - b| per pixel on the test images, pixels in [-1, 1].",
            "val_b_to_a_accuracy_by_epoch": [round(v, 4) for v in history.get("val_b_to_a_accuracy", [])],
            "val_a_to_b_accuracy_by_epoch": [round(v, 4) for v in history.get("val_a_to_b_accuracy", [])],
        }

    def record(self, cfg, d, history):
        dom = self.domains
        examples = min(len(dom.train_a), len(dom.train_b))
        return run_record(self.name, cfg, f"A: {dom.source_a}; B: {d.loaded.source}", history, examples=examples,
                          batch_size=d.batch_size, images_per_epoch=steps_per_epoch(examples, d.batch_size) * d.batch_size)


def train(cfg: TrainConfig, out, *, resume: bool = False, data_dir=None, verbose="auto") -> dict:
    """Train a CycleGAN between MNIST (A) and MNIST-M (B) into ``out``; returns (and writes) ``metrics.json``."""
    return CycleGANJob().train(cfg, out, resume=resume, data_dir=data_dir, verbose=verbose)


def load_generators(path: str | Path) -> tuple[keras.Model, keras.Model]:
    """``(G, F)`` from a run folder (``G_A_to_B.keras``, ``F_B_to_A.keras``), safe mode on."""
    return (load_saved_model(path, "G_A_to_B.keras", "cyclegan"),
            load_saved_model(path, "F_B_to_A.keras", "cyclegan"))
