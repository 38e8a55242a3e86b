"""A convolutional VAE on binarised MNIST, trained on the ELBO. Taught in 03_vae.

* ``build_encoder``: image -> ``(mean, log_var)`` of q(z|x), a diagonal Gaussian.
* ``Sampling``: ``z = mean + exp(log_var / 2) * eps`` with ``eps ~ N(0, I)``, the
  reparameterisation that lets gradients reach the encoder through the sample (erratum V1).
* ``build_decoder``: ``z`` -> Bernoulli *logits* per pixel (sigmoid only to show images).
* ``VAE``: one model, one optimizer, one loss: ``-E_q[log p(x|z)] + beta * KL`` (V2, V4),
  summed over pixels, averaged over the batch, in nats (V5). Works with plain ``fit()``.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from .. import backend, losses
from ..errors import ShapeError
from .base import apply_in_batches, build_optimizer

#: log-variances are clipped to this range: exp(+-10) keeps the KL and the sampling finite.
LOG_VAR_LIMIT = 10.0


def build_encoder(image_shape=(28, 28, 1), latent_dim: int = 32) -> keras.Model:
    """Images in [0, 1] -> ``[mean, log_var]``, each ``(batch, latent_dim)``."""
    images = keras.Input(shape=tuple(image_shape), name="images")
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(images)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)  # Dense layers act on vectors: flatten the 4-D feature map first (V6)
    x = layers.Dense(256, activation="relu")(x)
    # float32 even under mixed precision: exp(log_var) and the KL overflow in float16
    mean = layers.Dense(latent_dim, dtype="float32", name="mean")(x)
    log_var = layers.Dense(latent_dim, dtype="float32", name="log_var")(x)
    return keras.Model(images, [mean, log_var], name="encoder")


def build_decoder(image_shape=(28, 28, 1), latent_dim: int = 32) -> keras.Model:
    """``z`` -> Bernoulli logits of shape ``(batch, *image_shape)`` (no sigmoid)."""
    side = image_shape[0] // 4
    if side * 4 != image_shape[0]:
        raise ShapeError(f"image side {image_shape[0]} is not a multiple of 4")
    z = keras.Input(shape=(latent_dim,), name="z")
    x = layers.Dense(256, activation="relu")(z)
    x = layers.Dense(side * side * 64, activation="relu")(x)
    x = layers.Reshape((side, side, 64))(x)
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(x)
    logits = layers.Conv2D(image_shape[-1], 3, padding="same", dtype="float32", name="logits")(x)
    return keras.Model(z, logits, name="decoder")


class Sampling(layers.Layer):
    """``z = mean + exp(log_var / 2) * eps``: the reparameterisation trick.

    The randomness sits in ``eps``, which does not depend on the encoder, so
    gradients flow through ``mean`` and ``log_var`` to the encoder's weights.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # z in float32 under mixed precision (the decoder casts it)
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True  # no weights to create

    def call(self, mean, log_var):
        eps = backend.normal(ops.shape(mean), self.seed_generator)  # a different draw on each replica
        return mean + ops.exp(0.5 * log_var) * eps


class VAE(keras.Model):
    """Encoder + sampling + decoder trained jointly on the negative ELBO. Taught in 03_vae, Train.

    ``fit()`` takes images in [0, 1]; each training step binarises them afresh
    (dynamic binarisation). Evaluate on images binarised once with
    :func:`binarize_fixed` (:func:`course.evaluation.evaluate_nats`). ``beta`` weighs the KL
    term; it is a variable, so a warm-up callback can change it without re-tracing the step.
    The model overrides :meth:`compute_loss` only: Keras' own train step runs it on every backend.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0, seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        if encoder.output[0].shape[-1] != decoder.input_shape[-1]:
            raise ShapeError(f"the encoder makes {encoder.output[0].shape[-1]}-d codes but the decoder takes "
                             f"{decoder.input_shape[-1]}-d ones: build both with the same latent_dim.")
        if tuple(decoder.output_shape[1:]) != tuple(encoder.input_shape[1:]):
            raise ShapeError(f"the decoder makes {decoder.output_shape[1:]} images but the encoder reads "
                             f"{encoder.input_shape[1:]}: build both for the same image shape (erratum V6).")
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim = int(decoder.input_shape[-1])
        self.sampling = Sampling(seed)
        self.binarize_noise = keras.random.SeedGenerator(None if seed is None else seed + 1)
        self.target_beta = float(beta)
        self.beta = keras.Variable(float(beta), trainable=False, name="beta")
        # tracked beside Keras' own "loss" (the negative ELBO), reset every epoch
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True

    def recipe(self) -> dict:
        """The settings the weights depend on beyond their shapes (recorded by run folders)."""
        return {"latent_dim": self.latent_dim, "beta": self.target_beta}

    def encode(self, x, training=False):
        """``(mean, log_var)`` of q(z|x), in float32 under any precision (the encoder's last layers are float32
        layers, and so are the KL and the sampling)."""
        mean, log_var = self.encoder(x, training=training)
        return mean, ops.clip(log_var, -LOG_VAR_LIMIT, LOG_VAR_LIMIT)

    def call(self, x, training=False):
        """``{"target", "mean", "log_var", "logits"}`` for images ``x`` in [0, 1].

        When training, each pixel is first binarised afresh (1 with probability equal to its
        intensity), like Dropout a random corruption used only in training; ``target`` is the
        binary image the ELBO scores. At other times ``x`` is taken as it is (binarise a test set
        once, :func:`binarize_fixed`).
        """
        target = self.binarize(x) if training else ops.convert_to_tensor(x, "float32")
        mean, log_var = self.encode(target, training)
        logits = self.decoder(self.sampling(mean, log_var), training=training)  # z = mean + sigma * eps (V1)
        return {"target": target, "mean": mean, "log_var": log_var, "logits": logits}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Nothing to trace: encoder and decoder are built when the model is made (and Keras' TensorFlow
        trainer's sample-batch trace fails under ``MultiWorkerMirroredStrategy``); the optimizer's
        variables are made here, before the train step is traced."""
        build_optimizer(self)

    def reconstruct(self, x):
        """Reconstruction logits for (binary) images ``x``: encode, sample ``z``, decode."""
        return self(x, training=False)["logits"]

    def binarize(self, x):
        """Each pixel becomes 1 with probability equal to its intensity (fresh every call)."""
        x = ops.convert_to_tensor(x, "float32")
        return ops.cast(backend.uniform(ops.shape(x), self.binarize_noise) < x, "float32")

    def elbo_terms(self, x, beta=None, training=False):
        """``(loss, reconstruction, kl)`` on binary images ``x``, batch means in nats."""
        mean, log_var = self.encode(x, training)
        logits = self.decoder(self.sampling(mean, log_var), training=training)
        return losses.negative_elbo(x, logits, mean, log_var, self.beta if beta is None else beta)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The whole of the VAE's training: the negative ELBO of the forward pass ``y_pred = self(x)``.

        ``-E_q[log p(x|z)] + beta * KL(q(z|x) || p(z))``, summed over pixels and latent dimensions,
        averaged over the batch, in nats (V2, V3, V5); one loss for encoder and decoder together, so
        one optimizer (V4). Keras' own ``train_step`` does the rest on every backend: the gradient
        (TensorFlow's tape, JAX's ``value_and_grad``, PyTorch's ``backward``), the update, loss scaling
        under ``mixed_float16``, the progress bar. Taught in 03_vae, Train.
        """
        loss, reconstruction, kl = losses.negative_elbo(y_pred["target"], y_pred["logits"], y_pred["mean"],
                                                        y_pred["log_var"], self.beta)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        # a distribution strategy's replicas each see 1/N of the batch; their gradients are summed
        return loss / backend.replicas()

    def log_weights(self, x, eps):
        """``log p(x, z) - log q(z|x)`` per image and sample, ``(batch, k)``, for ``z = mean + sigma * eps``
        with ``eps`` of shape ``(batch, k, latent_dim)`` given (so a measurement can fix it)."""
        mean, log_var = self.encode(x)
        k = ops.shape(eps)[1]
        mean_k, log_var_k = ops.repeat(mean, k, axis=0), ops.repeat(log_var, k, axis=0)
        z = mean_k + ops.exp(0.5 * log_var_k) * ops.reshape(eps, (-1, self.latent_dim))
        log_px_z = losses.bernoulli_log_likelihood(ops.repeat(x, k, axis=0), self.decoder(z))
        log_pz = losses.gaussian_log_density(z, ops.zeros_like(z), ops.zeros_like(z))
        log_qz = losses.gaussian_log_density(z, mean_k, log_var_k)
        return ops.reshape(log_px_z + log_pz - log_qz, (-1, k))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` images from the prior as pixel probabilities in [0, 1]."""
        return prior_samples(self.decoder, n, seed)


class KLWarmup(keras.callbacks.Callback):
    """Raise ``beta`` linearly from 0 to ``target`` over the first ``epochs`` epochs.

    Early on the decoder is poor and the KL term alone would push q(z|x) onto the
    prior (posterior collapse); warming up lets the code carry information first.
    """

    def __init__(self, epochs: int, target: float = 1.0):
        super().__init__()
        self.epochs, self.target = max(1, int(epochs)), float(target)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.beta.assign(self.target * min(1.0, epoch / self.epochs))


def binarize_fixed(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Binarise uint8 or [0, 1] images once, with a fixed seed: the held-out set for NLL figures."""
    x = np.asarray(images)
    x = x.astype("float32") / 255.0 if x.dtype == np.uint8 else x.astype("float32")
    return (np.random.default_rng(seed).random(x.shape) < x).astype("float32")


def _images(data):
    return data[0] if isinstance(data, (tuple, list)) else data


def make_vae(image_shape=(28, 28, 1), latent_dim: int = 32, beta: float = 1.0, seed: int | None = None,
             learning_rate: float = 1e-3, steps_per_execution: int = 1) -> VAE:
    """The course's VAE, compiled with Adam at a constant learning rate (a finished run can so be
    continued for more epochs without a jump in the rate)."""
    vae = VAE(build_encoder(image_shape, latent_dim), build_decoder(image_shape, latent_dim), beta=beta, seed=seed)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate), steps_per_execution=steps_per_execution)
    return vae


def latent_codes_2d(vae: VAE, images: np.ndarray) -> tuple[np.ndarray, str]:
    """Posterior means of ``images`` in 2-D: as they are for a 2-D latent, else their first two
    principal components. Returns ``(codes, axis_label)``."""
    x = images.astype("float32") / 255.0 if images.dtype == np.uint8 else images
    mean, _ = vae.encode(x)
    mean = ops.convert_to_numpy(mean)
    if mean.shape[1] == 2:
        return mean, "z"
    centred = mean - mean.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, "principal component"


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    """Pixel probabilities from logits, without overflow for large negative logits."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, np.float64))).astype(np.float32)


def prior_samples(decoder: keras.Model, n: int, seed: int = 0) -> np.ndarray:
    """``n`` decodings of ``z ~ N(0, I)``: each pixel's Bernoulli mean, in [0, 1]."""
    z = np.random.default_rng(seed).standard_normal((n, decoder.input_shape[-1])).astype("float32")
    return _sigmoid(apply_in_batches(decoder, z))


def latent_grid(decoder: keras.Model, n: int = 15, limit: float = 2.5) -> np.ndarray:
    """Decode an ``n x n`` grid of 2-D codes spanning ``[-limit, limit]``: pixel probabilities."""
    values = np.linspace(-limit, limit, n, dtype="float32")
    z = np.array([[a, b] for b in values[::-1] for a in values], dtype="float32")
    return _sigmoid(apply_in_batches(decoder, z))
