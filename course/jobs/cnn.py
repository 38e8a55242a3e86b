"""The lesson-01 classifier's train job: ``python -m course train cnn``.

Holds out ``validation_fraction`` of the training images for the curves and touches
the test set once, at the end (erratum C3). Writes ``model.keras``, ``curves.png``,
``confusion_matrix.png``, ``history.csv``, checkpoints and ``metrics.json``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keras

from .. import data
from ..evaluation import predict_classes
from ..metrics import accuracy, confusion_matrix
from ..models import cnn
from ..runs import load_saved_model
from .base import RunConfig, TrainJob, save_model


@dataclass
class TrainConfig(RunConfig):
    """Settings of one classifier run (the command line's flags)."""

    batch_size: int | None = None  # None: what suits the dataset (64 for MNIST, 128 otherwise)
    learning_rate: float = 2e-3
    validation_fraction: float = 0.1  # of the training images, held out for the curves
    augment: Literal["none", "shift", "affine", "flip", "flip_shift"] | None = None  # None: what suits the dataset

    def __post_init__(self):
        """Fill in what suits the dataset, so that a run records the batch size and augmentation it trained with."""
        if self.batch_size is None:
            self.batch_size = DATASET_BATCH_SIZE.get(self.dataset, 128)
        if self.augment is None:
            self.augment = cnn.DATASET_AUGMENT.get(self.dataset, "none")
        super().__post_init__()


#: Lesson 01's batch size where it is not 128: MNIST's was chosen on held-out training digits with its augmentation
#: (``python -m course benchmark cnn_recipes``, the record ``cnn.recipes``).
DATASET_BATCH_SIZE = {"mnist": 64}

#: What a run that recorded ``augment: null`` trained with: runs recorded it so before the course filled it in, when
#: each dataset's augmentation was this (MNIST's none).
AUGMENT_RECORDED_AS_NONE = {"cifar10": "flip_shift", "fashion_mnist": "flip"}


class CNNJob(TrainJob):
    name = "cnn"
    Config = TrainConfig
    extendable = False  # the learning rate follows a cosine over the run's epochs: a longer run is a new run

    def load(self, cfg, data_dir=None):
        """The training split minus a held-out validation set (for the curves, erratum C3)."""
        d = super().load(cfg, data_dir)
        (d.x_train, d.y_train), (d.x_val, d.y_val) = data.split(d.x_train, d.y_train, cfg.validation_fraction,
                                                                cfg.seed)
        return d

    def build(self, cfg, d):
        model = cnn.classifier_for(cfg.dataset, cfg.augment, seed=cfg.seed)
        return cnn.compile_classifier(model, total_steps=d.epochs * math.ceil(len(d.x_train) / d.batch_size),
                                      learning_rate=cfg.learning_rate, steps_per_execution=cfg.steps_per_execution)

    def upgrade_settings(self, recorded: dict) -> dict:
        """The base job's, and ``augment: null`` (recorded before the course filled it in) as what it trained with
        then (:data:`AUGMENT_RECORDED_AS_NONE`)."""
        settings = super().upgrade_settings(recorded)
        if "augment" in settings and settings["augment"] is None:
            settings["augment"] = AUGMENT_RECORDED_AS_NONE.get(settings.get("dataset"), "none")
        return settings

    def feed(self, cfg, d):
        train = data.pipeline(d.x_train, d.y_train, batch_size=d.batch_size, shuffle=True, seed=cfg.seed)
        validation = data.pipeline(d.x_val, d.y_val, batch_size=512) if len(d.x_val) else None
        return train, validation

    def save(self, cfg, d, model, run, history):
        import matplotlib.pyplot as plt  # figures are saved and closed, never shown

        from ..plotting import plot_confusion_matrix, plot_history

        save_model(model, run / "model.keras")
        fig = plot_history(history, keys=["loss", "accuracy"])
        fig.savefig(run / "curves.png", dpi=100)
        plt.close(fig)
        predicted = predict_classes(model, d.x_test)
        fig = plot_confusion_matrix(confusion_matrix(d.y_test, predicted, len(d.loaded.class_names)),
                                    d.loaded.class_names, title=f"test accuracy {accuracy(d.y_test, predicted):.4f}")
        fig.savefig(run / "confusion_matrix.png", dpi=100)
        plt.close(fig)

    def measure(self, cfg, d, model, run, history, data_dir=None):
        test_loss, test_acc = model.evaluate(data.pipeline(d.x_test, d.y_test, batch_size=512), verbose=0)
        return {"validation_examples": int(len(d.x_val)), "test_examples": int(len(d.x_test)),
                "parameters": int(model.count_params()),
                "test_accuracy": round(float(test_acc), 4), "test_loss": round(float(test_loss), 4)}


def train(cfg: TrainConfig, out: str | Path, *, resume: bool = False, data_dir=None, verbose="auto") -> dict:
    """Train a classifier into the run folder ``out``; returns (and writes) ``metrics.json``."""
    return CNNJob().train(cfg, out, resume=resume, data_dir=data_dir, verbose=verbose)


def load_classifier(path: str | Path) -> keras.Model:
    """Load a saved classifier (``model.keras`` or its run folder), with safe mode on."""
    return load_saved_model(path, "model.keras", "cnn")
