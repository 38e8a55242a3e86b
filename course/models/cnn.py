"""Convolutional classifiers for 28x28x1 and 32x32x3 images. Taught in 01_cnn_classifier.

A CNN classifier does not generate images (erratum C1): it maps an image to ten
logits. The course uses it three ways: as a classifier (lesson 01), as the
feature extractor behind the classifier-feature FID and the label checks of
later lessons (:func:`feature_extractor`), and its conv/BatchNorm blocks as the
building block of generators and discriminators.
"""
from __future__ import annotations

import keras
from keras import layers

from .. import data

#: BatchNorm momentum. Keras' default (0.99) lets the moving statistics lag far
#: behind in short runs: a 2-epoch run then scores badly at test time although its
#: training accuracy is high. 0.9 catches up within a few hundred steps.
BN_MOMENTUM = 0.9


def conv_block(x, filters: int, name: str, bn_momentum: float = BN_MOMENTUM):
    """3x3 convolution -> BatchNorm -> ReLU. No conv bias: BatchNorm's shift replaces it."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def augmentation(kind: str, seed: int | None = None) -> keras.Sequential | None:
    """Random training-time augmentation (inactive at inference): ``none``, ``shift``, ``affine``, ``flip`` or
    ``flip_shift``.

    Horizontal flips suit CIFAR-10 and Fashion-MNIST; they would turn digits into
    non-digits. ``shift`` moves digits without flipping them (up to 10% of the image each way,
    the uncovered border filled with black, the digits' own background). ``affine`` also turns digits by up
    to about 10 degrees and scales them by up to 10%, as handwriting varies, still without mirroring. Which
    one MNIST trains with was chosen on held-out training digits (:data:`DATASET_AUGMENT`). ``seed`` seeds
    the layers' own random generators.
    """
    if kind == "none":
        return None
    if kind == "shift":
        steps = [layers.RandomTranslation(0.1, 0.1, fill_mode="constant", fill_value=0.0, seed=_offset(seed, 2))]
    elif kind == "affine":
        steps = [layers.RandomRotation(0.03, fill_mode="constant", fill_value=0.0, seed=_offset(seed, 4)),
                 layers.RandomZoom(0.1, fill_mode="constant", fill_value=0.0, seed=_offset(seed, 5)),
                 layers.RandomTranslation(0.1, 0.1, fill_mode="constant", fill_value=0.0, seed=_offset(seed, 2))]
    elif kind in ("flip", "flip_shift"):
        steps = [layers.RandomFlip("horizontal", seed=_offset(seed, 1))]
        if kind == "flip_shift":
            steps.append(layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=_offset(seed, 2)))
    else:
        raise ValueError(f"augmentation must be none, shift, affine, flip or flip_shift, got {kind!r}")
    return keras.Sequential(steps, name="augment")


def build_classifier(
    input_shape=(28, 28, 1),
    num_classes: int = 10,
    widths=(32, 64, 128),
    convs=(2, 2, 2),
    dropout: float = 0.3,
    augment: str = "none",
    name: str = "cnn",
    bn_momentum: float = BN_MOMENTUM,
    seed: int | None = 0,
) -> keras.Model:
    """A small modern CNN: conv-BN-ReLU blocks (``convs[i]`` convolutions of ``widths[i]``
    filters, then 2x2 max-pool), global average pool, dropout, logits.


    Inputs are images in [0, 1] of ``input_shape``; outputs are ``num_classes``
    logits (no softmax: the loss applies it, ``from_logits=True``). The layer
    named ``features`` is the penultimate representation. ``seed`` seeds the random layers'
    own generators (dropout, augmentation), whose states checkpoints keep: without one, Keras'
    dropout on PyTorch draws from torch's global generator, which no checkpoint saves, and a
    resumed run could not continue exactly.
    """
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    aug = augmentation(augment, seed)
    if aug is not None:
        x = aug(x)
    for i, (width, n) in enumerate(zip(widths, convs)):
        for j in range(n):
            x = conv_block(x, width, f"block{i + 1}{'abc'[j]}", bn_momentum)
        if i < len(widths) - 1:
            x = layers.MaxPooling2D(name=f"block{i + 1}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="features")(x)
    x = layers.Dropout(dropout, seed=_offset(seed, 3), name="dropout")(x)
    # float32 logits even under mixed precision, so the softmax in the loss is stable
    logits = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def _offset(seed: int | None, k: int) -> int | None:
    return None if seed is None else int(seed) * 10 + k


#: Lesson 01's augmentation for each dataset (others: none). Flips suit photos and clothes, never digits; MNIST's
#: was chosen on held-out training digits (``python -m course benchmark cnn_recipes``, the record ``cnn.recipes``).
DATASET_AUGMENT = {"cifar10": "flip_shift", "fashion_mnist": "flip", "mnist": "shift"}


def classifier_for(dataset: str, augment: str | None = None, bn_momentum: float = BN_MOMENTUM,
                   seed: int | None = 0) -> keras.Model:
    """The course's classifier for a dataset, with the augmentation that suits it (:data:`DATASET_AUGMENT`)
    unless ``augment`` names one."""
    ds = data.spec(dataset)
    return build_classifier(ds.image_shape, ds.num_classes,
                            augment=augment or DATASET_AUGMENT.get(dataset, "none"), name=f"cnn_{dataset}", bn_momentum=bn_momentum,
                            seed=seed)


def compile_classifier(model: keras.Model, total_steps: int, learning_rate: float = 2e-3,
                       steps_per_execution: int = 1) -> keras.Model:
    """AdamW with a cosine learning-rate decay over the run; sparse CE on logits (erratum C2)."""
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, total_steps), alpha=0.02)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        steps_per_execution=steps_per_execution,
    )
    return model


def feature_extractor(model: keras.Model) -> keras.Model:
    """A model mapping images to the classifier's penultimate ``features`` (used by later lessons)."""
    return keras.Model(model.inputs, model.get_layer("features").output, name=f"{model.name}_features")
