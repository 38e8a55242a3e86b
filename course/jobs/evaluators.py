"""The evaluator classifiers later lessons score with: the lesson-01 CNN, trained once per dataset and cached.

Lessons 02-04 judge generated images with it: predicted classes (is it a 7?) and
penultimate features (the classifier-feature Fréchet distance). The scoring itself is in
:mod:`course.evaluation`; this module trains (through the cnn job) and caches.
"""
from __future__ import annotations

import keras

from .. import config
from . import cnn


def evaluator(dataset: str = "mnist", *, fast: bool | None = None, data_dir=None, verbose=0) -> keras.Model:
    """The lesson-01 classifier for ``dataset``, trained once and cached, then loaded.

    Fast mode keeps a separate, quickly trained one, so fast figures never mix with full ones.
    """
    fast = config.fast_mode() if fast is None else fast
    folder = config.cache_dir() / "evaluators" / f"cnn-{dataset}{'-fast' if fast else ''}"
    if not (folder / "model.keras").is_file():
        if verbose:
            print(f"Training the {dataset} evaluator once (cached in {folder}) ...")
        if fast:  # small, so that the first fast run of a later lesson stays short
            limits = config.FAST["evaluator"]
            cfg = cnn.TrainConfig(dataset=dataset, epochs=limits.epochs, batch_size=limits.batch_size,
                                  train_examples=limits.train_examples, fast=True)
        else:
            cfg = cnn.TrainConfig(dataset=dataset, epochs=5 if dataset != "cifar10" else 30)
        cnn.train(cfg, folder, resume=True, data_dir=data_dir, verbose=verbose)
    return cnn.load_classifier(folder)
