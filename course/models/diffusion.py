"""A denoising diffusion model (DDPM) with DDIM sampling and classifier-free guidance. Taught in 06_diffusion.

* :class:`Schedule`: the noise schedule (``linear`` or ``cosine``) as arrays indexed by the timestep
  ``t = 0, ..., T-1``: ``betas[t]``, ``alphas[t] = 1 - betas[t]``, ``alpha_bars[t] = prod_{s <= t} alphas[s]``.
  The timestep the network is told and the index into every array are the same number (erratum D1).
* :func:`q_sample`: the closed form ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``.
* :func:`build_unet`: a small U-Net (28 -> 14 -> 7 for MNIST) that reads a noisy image, its timestep
  (a sinusoidal embedding that scales and shifts every block) and, when conditional, a class (with one extra "null"
  class: the unconditional branch of classifier-free guidance). It predicts the noise ``eps``.
* :class:`Diffusion`: one model, one optimizer, one loss: ``||eps - eps_theta(x_t, t)||^2`` weighted per
  timestep (the noise-prediction objective, a reweighted ELBO; Min-SNR weights by default). Overrides ``call`` and ``compute_loss`` only,
  so Keras' own train step runs on TensorFlow, JAX and PyTorch.
* :func:`ddpm_step`, :func:`ddim_step`, :func:`guided_noise`: one reverse step of each sampler and the
  guidance mix, as plain functions of arrays; :meth:`Diffusion.sample` runs them batch by batch.

Data are images scaled to [-1, 1] (erratum D2): the forward process ends in N(0, I), which only
matches data of that scale.
"""
from __future__ import annotations

import math
from typing import Literal

import keras
import numpy as np
from keras import layers, ops

from .. import backend
from ..errors import CourseError, ShapeError
from .base import build_optimizer

#: Timesteps of the forward process (Ho et al., 2020).
TIMESTEPS = 1000


# --------------------------------------------------------------------------- the noise schedule


class Schedule:
    """The variances ``betas[t]`` of the forward steps, and what follows from them, for ``t = 0..T-1``.

    ``alpha_bars[t]`` is the fraction of the signal's variance left in ``x_t``: ``q(x_t | x_0) =
    N(sqrt(alpha_bars[t]) x_0, (1 - alpha_bars[t]) I)``. ``x_t`` is made from ``x_0`` by ``t + 1``
    forward steps, so ``x_0`` itself is never noised and the sampler's last step (``t = 0``) returns
    its estimate of ``x_0`` without adding noise. Taught in 06_diffusion, The noise schedule.
    """

    def __init__(self, kind: Literal["linear", "cosine"] = "linear", timesteps: int = TIMESTEPS):
        if timesteps < 2:
            raise CourseError(f"a schedule needs at least 2 timesteps, got {timesteps}.")
        if kind == "linear":  # Ho et al. (2020): betas from 1e-4 to 0.02 over 1000 steps, scaled to T steps
            scale = 1000.0 / timesteps
            betas = np.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=np.float64)
        elif kind == "cosine":  # Nichol & Dhariwal (2021): alpha_bar follows cos^2, betas clipped at 0.999
            s = 0.008
            steps = np.arange(timesteps + 1, dtype=np.float64) / timesteps
            f = np.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
            betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
        else:
            raise CourseError(f"the schedule must be 'linear' or 'cosine', got {kind!r}.")
        self.kind, self.timesteps = kind, int(timesteps)
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alpha_bars = np.cumprod(self.alphas)
        # alpha_bar "before step t": 1 at t = 0 (x_0 has all of its signal)
        self.alpha_bars_prev = np.concatenate([[1.0], self.alpha_bars[:-1]])
        # the variance of q(x_{t-1} | x_t, x_0): 0 at t = 0
        self.posterior_variance = betas * (1.0 - self.alpha_bars_prev) / (1.0 - self.alpha_bars)

    def snr(self) -> np.ndarray:
        """The signal-to-noise ratio ``alpha_bar_t / (1 - alpha_bar_t)`` of ``x_t``, per timestep."""
        return self.alpha_bars / (1.0 - self.alpha_bars)

    def arrays(self) -> dict[str, np.ndarray]:
        """The schedule as float32 arrays (what the exercises and the samplers take)."""
        return {k: getattr(self, k).astype(np.float32) for k in
                ("betas", "alphas", "alpha_bars", "alpha_bars_prev", "posterior_variance")}


def _per_image(values, t, like):
    """``values[t]`` for each image's timestep, shaped to broadcast over the image (batch, 1, 1, 1)."""
    picked = ops.take(ops.convert_to_tensor(values, "float32"), ops.cast(t, "int32"), axis=0)
    return ops.reshape(picked, (-1,) + (1,) * (len(ops.shape(like)) - 1))


def q_sample(x0, t, noise, alpha_bars):
    """``x_t = sqrt(alpha_bars[t]) x_0 + sqrt(1 - alpha_bars[t]) noise``, each image at its own ``t``.

    The closed form of ``t + 1`` forward steps: no loop over the steps. Taught in 06_diffusion,
    The forward process.
    """
    x0 = ops.convert_to_tensor(x0, "float32")
    a = _per_image(alpha_bars, t, x0)
    return ops.sqrt(a) * x0 + ops.sqrt(1.0 - a) * ops.convert_to_tensor(noise, "float32")


def predict_x0(x_t, t, eps, alpha_bars):
    """The ``x_0`` that ``x_t`` and the predicted noise ``eps`` imply: ``(x_t - sqrt(1 - a) eps) / sqrt(a)``."""
    x_t, eps = ops.convert_to_tensor(x_t, "float32"), ops.convert_to_tensor(eps, "float32")
    a = _per_image(alpha_bars, t, x_t)
    return (x_t - ops.sqrt(1.0 - a) * eps) / ops.sqrt(a)


def ddpm_step(x_t, t, eps, z, betas, alpha_bars, posterior_variance, clip: bool = False):
    """One ancestral (DDPM) step ``x_t -> x_{t-1}`` from the *predicted noise* ``eps`` (erratum D3).

    ``x_{t-1} = (x_t - betas[t] / sqrt(1 - alpha_bars[t]) * eps) / sqrt(1 - betas[t]) + sigma_t z`` with
    ``sigma_t^2 = posterior_variance[t]`` (0 at ``t = 0``: the last step adds no noise). ``z`` is fresh
    standard normal noise, one draw per image and per step (erratum D4). Taught in 06_diffusion, Sampling.

    ``clip=True`` (what :meth:`Diffusion.sample` uses) writes the same mean as the posterior mean of
    ``q(x_{t-1} | x_t, x0_hat)`` with ``x0_hat``, the clean image the noise implies, clipped to the data's
    range [-1, 1]: ``sqrt(abar_prev) betas[t] / (1 - alpha_bars[t]) x0_hat + sqrt(1 - betas[t])
    (1 - abar_prev) / (1 - alpha_bars[t]) x_t``, where ``abar_prev`` is ``alpha_bars[t - 1]`` and 1 at
    ``t = 0`` (so the last step returns the clipped ``x0_hat`` itself). Where ``x0_hat`` is inside [-1, 1] the
    two forms are one step. Where it is not, they differ by at most ``betas[t] / (sqrt(1 - betas[t])
    sqrt(1 - alpha_bars[t]))`` times the network's error in ``eps``: about 32 at the cosine schedule's first
    reverse step (its one beta clipped at 0.999), below 2 at every other. The two weights are computed in
    float64 from ``betas`` (``1 - alpha_bars[t]`` from float32 ``alpha_bars`` loses digits where the betas
    are small: the last step's weight of ``x0_hat`` came out 0.9995 instead of 1).
    """
    x_t = ops.convert_to_tensor(x_t, "float32")
    eps = ops.convert_to_tensor(eps, "float32")
    beta, a = _per_image(betas, t, x_t), _per_image(alpha_bars, t, x_t)
    if clip:
        x0 = ops.clip(predict_x0(x_t, t, eps, alpha_bars), -1.0, 1.0)
        b64 = np.asarray(betas, np.float64)
        abar = np.cumprod(1.0 - b64)
        abar_prev = np.concatenate([[1.0], abar[:-1]])
        one_minus_abar = 1.0 - abar
        x0_weight = np.sqrt(abar_prev) * b64 / one_minus_abar
        x_t_weight = np.sqrt(1.0 - b64) * (1.0 - abar_prev) / one_minus_abar
        mean = _per_image(x0_weight, t, x_t) * x0 + _per_image(x_t_weight, t, x_t) * x_t
    else:
        mean = (x_t - beta / ops.sqrt(1.0 - a) * eps) / ops.sqrt(1.0 - beta)
    return mean + ops.sqrt(_per_image(posterior_variance, t, x_t)) * ops.convert_to_tensor(z, "float32")


def ddim_step(x_t, t, t_prev, eps, alpha_bars, eta: float = 0.0, z=None, clip: bool = True):
    """One DDIM step ``x_t -> x_{t_prev}`` (``t_prev < t``; ``-1``: all the way to ``x_0``).

    Estimate ``x_0`` from the predicted noise, then put it back at the noise level of ``t_prev``:
    ``x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma^2) eps + sigma z``. The marginals ``q(x_s | x_0)``
    are those of training, so ``t_prev`` may skip many timesteps (a few dozen steps instead of ``T``);
    ``eta = 0`` (``sigma = 0``) is deterministic, ``eta = 1`` over consecutive timesteps is the ancestral
    step ``ddpm_step(..., clip=clip)``. ``clip`` keeps ``x0_hat`` in the data's range [-1, 1] and goes on with
    the noise that agrees with the clipped ``x0_hat``. Taught in 06_diffusion, DDIM.
    """
    x_t = ops.convert_to_tensor(x_t, "float32")
    a = _per_image(alpha_bars, t, x_t)
    padded = np.concatenate([[1.0], np.asarray(alpha_bars, np.float64)])  # alpha_bar at t_prev = -1 is 1
    a_prev = _per_image(padded, ops.cast(t_prev, "int32") + 1, x_t)
    x0 = (x_t - ops.sqrt(1.0 - a) * eps) / ops.sqrt(a)
    if clip:
        x0 = ops.clip(x0, -1.0, 1.0)
        eps = (x_t - ops.sqrt(a) * x0) / ops.sqrt(1.0 - a)  # the noise that agrees with the clipped x_0
    sigma2 = eta**2 * (1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev)
    out = ops.sqrt(a_prev) * x0 + ops.sqrt(ops.maximum(1.0 - a_prev - sigma2, 0.0)) * eps
    if eta:
        if z is None:
            raise CourseError("ddim_step with eta > 0 adds noise: pass z, fresh standard normal noise of x_t's shape.")
        out = out + ops.sqrt(sigma2) * ops.convert_to_tensor(z, "float32")
    return out


def guided_noise(eps_conditional, eps_unconditional, guidance: float):
    """Classifier-free guidance: ``eps_u + w (eps_c - eps_u)`` (erratum D5).

    ``w = 1`` is the conditional model, ``w = 0`` the unconditional one, ``w > 1`` pushes further from the
    unconditional prediction towards the class. Taught in 06_diffusion, Classifier-free guidance.
    """
    return eps_unconditional + guidance * (eps_conditional - eps_unconditional)


# --------------------------------------------------------------------------- the network


@keras.saving.register_keras_serializable(package="course")
class TimestepEmbedding(layers.Layer):
    """Integer timesteps ``(batch,)`` -> sinusoidal features ``(batch, dim)`` (as a transformer's positions)."""

    def __init__(self, dim: int = 64, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.built = True

    def call(self, t):
        half = self.dim // 2
        frequencies = ops.exp(-math.log(10_000.0) * ops.arange(half, dtype="float32") / half)
        angles = ops.cast(ops.reshape(t, (-1, 1)), "float32") * frequencies[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


def _groups(channels: int) -> int:
    return 8 if channels % 8 == 0 else 1


def _block(x, emb, channels: int, name: str):
    """A residual block: norm, swish, conv; norm scaled and shifted by the timestep (and class)
    embedding; swish, conv. The scale and shift come after the normalisation, which would otherwise
    remove part of an embedding added before it (Dhariwal and Nichol, 2021)."""
    h = layers.GroupNormalization(_groups(x.shape[-1]), name=f"{name}_norm1")(x)
    h = layers.Activation("swish")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv1")(h)
    h = layers.GroupNormalization(_groups(channels), name=f"{name}_norm2")(h)
    scale_shift = layers.Reshape((1, 1, 2 * channels))(layers.Dense(2 * channels, name=f"{name}_emb")(emb))
    h = h * (1.0 + scale_shift[..., :channels]) + scale_shift[..., channels:]
    h = layers.Activation("swish")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")(h)
    skip = x if x.shape[-1] == channels else layers.Conv2D(channels, 1, name=f"{name}_skip")(x)
    return h + skip


#: Channels of the U-Net's three levels, as multiples of ``width``: few at full resolution, where a
#: convolution costs the most, many at the quarter resolution, where the digit's shape is decided.
LEVELS = (1, 4, 8)


def build_unet(image_shape=(28, 28, 1), width: int = 16, num_classes: int | None = None,
               embed_dim: int = 128, levels: tuple[int, int, int] = LEVELS) -> keras.Model:
    """``[x_t, t]`` (or ``[x_t, t, label]``) -> predicted noise, float32, of ``x_t``'s shape.

    Two downsamplings (28 -> 14 -> 7 for MNIST, 32 -> 16 -> 8 for CIFAR-10) with ``levels`` times
    ``width`` channels (16, 64, 128 by default: cheap where the images are large), one residual block
    per level on the way down and up, skip connections between them. The timestep's sinusoidal embedding (and the class's learned one, when
    ``num_classes`` is given; label ``num_classes`` is the null class of classifier-free guidance)
    goes through a small MLP and scales and shifts the normalised features of every block. Taught in 06_diffusion, The network.
    """
    height, side, channels = image_shape
    if height % 4 or side % 4:
        raise ShapeError(f"the U-Net halves the image twice: {height}x{side} is not a multiple of 4.")
    x_in = keras.Input(tuple(image_shape), name="x_t")
    t_in = keras.Input((), dtype="int32", name="t")
    inputs = [x_in, t_in]
    emb = TimestepEmbedding(embed_dim // 2, name="time_features")(t_in)
    emb = layers.Dense(embed_dim, activation="swish", name="time_mlp1")(emb)
    emb = layers.Dense(embed_dim, name="time_mlp2")(emb)
    if num_classes is not None:
        label_in = keras.Input((), dtype="int32", name="label")
        inputs.append(label_in)
        emb = emb + layers.Embedding(num_classes + 1, embed_dim, name="class_embedding")(label_in)
    emb = layers.Activation("swish")(emb)

    if len(levels) != 3 or min(levels) < 1:
        raise CourseError(f"levels are three positive channel multipliers, got {levels!r}.")
    c1, c2, c3 = (int(m) * int(width) for m in levels)
    x = layers.Conv2D(c1, 3, padding="same", name="stem")(x_in)
    skip1 = _block(x, emb, c1, "down1")  # 28
    x = layers.Conv2D(c2, 3, strides=2, padding="same", name="downsample1")(skip1)
    skip2 = _block(x, emb, c2, "down2")  # 14
    x = layers.Conv2D(c3, 3, strides=2, padding="same", name="downsample2")(skip2)
    x = _block(x, emb, c3, "middle")  # 7
    x = layers.UpSampling2D(2, name="upsample2")(x)
    x = _block(layers.Concatenate()([x, skip2]), emb, c2, "up2")  # 14
    x = layers.UpSampling2D(2, name="upsample1")(x)
    x = _block(layers.Concatenate()([x, skip1]), emb, c1, "up1")  # 28
    x = layers.GroupNormalization(_groups(c1), name="out_norm")(x)
    x = layers.Activation("swish")(x)
    # float32 even under mixed precision: the loss compares it with float32 noise
    eps = layers.Conv2D(channels, 3, padding="same", dtype="float32", name="noise")(x)
    return keras.Model(inputs, eps, name="unet")


# --------------------------------------------------------------------------- the model


class Diffusion(keras.Model):
    """A U-Net trained to predict the noise in ``x_t``, with the forward process drawn inside ``call``.

    ``fit()`` takes images in [-1, 1] (erratum D2), or ``(images, labels)`` as the model's input when
    ``num_classes`` is given. Each training step draws, per image, a timestep ``t`` uniform in
    ``0..T-1``, a noise image ``eps`` and (conditional) whether the label is dropped for the null class
    (``label_dropout``), all from seed generators the model owns: saved in checkpoints, carried through
    JAX's stateless step, different on each TensorFlow replica. Taught in 06_diffusion, Train.
    """

    def __init__(self, network: keras.Model, schedule: Schedule | None = None, num_classes: int | None = None,
                 label_dropout: float = 0.1, seed: int | None = None,
                 weighting: Literal["simple", "min_snr"] = "min_snr", **kwargs):
        super().__init__(**kwargs)
        self.weighting = weighting
        self.network = network
        self.schedule = schedule or Schedule()
        self.loss_weights = timestep_weights(self.schedule, weighting)  # (T,): also refuses an unknown weighting
        self.num_classes = num_classes
        conditional_net = len(network.inputs) == 3
        if conditional_net != (num_classes is not None):
            raise ShapeError("a conditional model needs a network built with num_classes (three inputs: x_t, t, "
                             "label), an unconditional one a network without; got "
                             f"{len(network.inputs)} inputs and num_classes={num_classes}.")
        if not 0.0 <= label_dropout < 1.0:
            raise CourseError(f"label_dropout must be in [0, 1), got {label_dropout}.")
        self.label_dropout = float(label_dropout)
        self.image_shape = tuple(network.input_shape[0][1:])
        self.timestep_noise = keras.random.SeedGenerator(seed)
        self.image_noise = keras.random.SeedGenerator(None if seed is None else seed + 1)
        self.label_noise = keras.random.SeedGenerator(None if seed is None else seed + 2)
        self.built = True

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    @property
    def null_class(self) -> int:
        """The label that means "no class" (the unconditional branch)."""
        return int(self.num_classes)

    def recipe(self) -> dict:
        """The settings the weights depend on beyond their shapes (recorded by run folders)."""
        return {"schedule": self.schedule.kind, "timesteps": self.schedule.timesteps,
                "num_classes": self.num_classes, "label_dropout": self.label_dropout, "weighting": self.weighting}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Nothing to trace: the network is built when the model is made; the optimizer's variables are
        made here, before the train step is traced (TensorFlow's trainer calls this)."""
        build_optimizer(self)

    def _split(self, data):
        if self.conditional:
            if not isinstance(data, (tuple, list)) or len(data) != 2:
                raise ShapeError("a conditional diffusion model takes (images, labels) as its input.")
            return ops.convert_to_tensor(data[0], "float32"), ops.cast(data[1], "int32")
        if isinstance(data, (tuple, list)):
            data = data[0]
        return ops.convert_to_tensor(data, "float32"), None

    def call(self, data, training=False):
        """``{"noise", "prediction", "t"}`` for clean images ``x_0`` in [-1, 1] (and labels).

        Draws ``t`` and ``eps`` per image (and, when training a conditional model, replaces each label by
        the null class with probability ``label_dropout``), makes ``x_t`` in closed form and asks the
        network for the noise: the forward pass of the noise-prediction objective.
        """
        x0, labels = self._split(data)
        batch = ops.shape(x0)[0]
        u = backend.uniform((batch,), self.timestep_noise)
        t = ops.minimum(ops.cast(ops.floor(u * self.schedule.timesteps), "int32"), self.schedule.timesteps - 1)
        noise = backend.normal(ops.shape(x0), self.image_noise)  # one draw per image and pixel (D4)
        x_t = q_sample(x0, t, noise, self.schedule.alpha_bars)
        inputs = [x_t, t]
        if self.conditional:
            if training and self.label_dropout > 0:
                drop = backend.uniform((batch,), self.label_noise) < self.label_dropout
                labels = ops.where(drop, ops.full_like(labels, self.null_class), labels)
            inputs.append(labels)
        return {"noise": noise, "prediction": self.network(inputs, training=training), "t": t}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The whole of training: the squared error of the predicted noise, weighted per timestep.

        The ELBO's terms are ``E||eps - eps_theta||^2`` times a factor of ``t``. Ho et al.'s "simple"
        loss (``weighting="simple"``) drops the factor: every timestep weighs the same. The default,
        ``"min_snr"`` (Hang et al., 2023), weighs a timestep by ``min(SNR_t, 5) / SNR_t``: the nearly
        clean timesteps, whose tiny noise is hard to predict and matters little to a sample, no longer
        weigh in as much as the timesteps where the digit's shape is decided (their squared noise error
        is the clean-image error times SNR_t; the weight caps that factor at 5). One loss, one optimizer: Keras' own ``train_step`` does the rest on every backend. Taught in
        06_diffusion, The loss.
        """
        weights = ops.take(ops.convert_to_tensor(self.loss_weights), ops.cast(y_pred["t"], "int32"), axis=0)
        loss = noise_prediction_loss(y_pred["noise"], y_pred["prediction"], weights)
        return loss / backend.replicas()  # replicas' gradients are summed

    # ------------------------------------------------------------------ sampling

    def predict_noise(self, x_t, t, labels=None, guidance: float = 1.0):
        """``eps_theta(x_t, t)``; conditional: guided with weight ``guidance`` (one network call on the
        batch doubled: the asked classes and the null class)."""
        x_t, t = ops.convert_to_tensor(x_t, "float32"), ops.convert_to_tensor(t, "int32")
        if not self.conditional:
            return self.network([x_t, t], training=False)
        labels = ops.convert_to_tensor(labels, "int32")
        null = ops.full_like(labels, self.null_class)
        if guidance == 1.0:
            return self.network([x_t, t, labels], training=False)
        if guidance == 0.0:
            return self.network([x_t, t, null], training=False)
        both = self.network([ops.concatenate([x_t, x_t]), ops.concatenate([t, t]), ops.concatenate([labels, null])],
                            training=False)
        half = ops.shape(x_t)[0]
        return guided_noise(both[:half], both[half:], guidance)

    def timesteps_for(self, steps: int | None) -> np.ndarray:
        """The timesteps a sampler visits, from ``T-1`` down to 0: all ``T`` of them, or ``steps`` evenly spaced."""
        T = self.schedule.timesteps
        if steps is None or steps >= T:
            return np.arange(T - 1, -1, -1)
        if steps < 1:
            raise CourseError(f"a sampler needs at least one step, got {steps}.")
        return np.unique(np.round(np.linspace(0, T - 1, steps)).astype(int))[::-1]

    def _stepper(self, sampler: str, guidance: float, eta: float = 0.0, clip: bool = True):
        """One compiled reverse step ``(x, t, t_prev, labels, z) -> x_prev`` per sampler, guidance, eta and clip (kept)."""
        cache = self.__dict__.setdefault("_compiled_steps", {})
        key = (sampler, float(guidance), float(eta), bool(clip))
        if key not in cache:
            cache[key] = backend.compiled(_ReverseStep(self, sampler, float(guidance), float(eta), bool(clip)))
        return cache[key]

    def sample(self, n: int, *, sampler: Literal["ddim", "ddpm"] = "ddim", steps: int | None = 50,
               labels=None, guidance: float = 1.0, seed: int = 0, batch_size: int = 500,
               trajectory_every: int | None = None, eta: float = 0.0, clip: bool = True):
        """``n`` images in [-1, 1] (float32 NumPy), generated from pure noise batch by batch.

        ``sampler="ddpm"`` is the ancestral sampler over all ``T`` steps (``steps`` is ignored), its estimate of
        ``x_0`` clipped to [-1, 1] at every step as DDIM's is (``clip=False``: both samplers' textbook steps,
        unclipped, to measure what the clipping does);
        ``"ddim"`` the one over ``steps`` timesteps: deterministic with ``eta=0``; with ``eta=1`` each step
        adds fresh noise as the ancestral sampler does (measured better for the course's small model;
        taught in 06_diffusion, DDIM). The noise comes from NumPy seeded
        with ``seed``: a different draw for every image and every step (D4), the same for the same seed.
        A conditional model needs ``labels`` (``n`` class numbers). With ``trajectory_every=k`` also
        returns the first batch's images every ``k`` steps (and the last): the reverse process to watch.
        """
        if sampler not in ("ddim", "ddpm"):
            raise CourseError(f"the sampler must be 'ddim' or 'ddpm', got {sampler!r}.")
        if not 0.0 <= eta <= 1.0:
            raise CourseError(f"eta must be in [0, 1] (0: deterministic DDIM, 1: fresh noise at every step), got {eta}.")
        if self.conditional:
            if labels is None:
                raise CourseError("a conditional model samples given labels: pass labels=, one class per image.")
            labels = np.asarray(labels, "int32").reshape(-1)
            if len(labels) != n:
                raise ShapeError(f"{len(labels)} labels for {n} images.")
            if labels.min() < 0 or labels.max() >= self.num_classes:
                raise CourseError(f"labels must be classes 0..{self.num_classes - 1}.")
        timesteps = self.timesteps_for(None if sampler == "ddpm" else steps)
        eta = float(eta) if sampler == "ddim" else 0.0
        step = self._stepper(sampler, guidance, eta, clip)
        rng = np.random.default_rng(seed)
        out, frames = [], []
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            x = rng.standard_normal((b, *self.image_shape)).astype("float32")
            batch_labels = labels[start:start + b] if self.conditional else np.zeros(b, "int32")
            for i, t in enumerate(timesteps):
                t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
                noisy = sampler == "ddpm" or eta > 0
                z = rng.standard_normal(x.shape).astype("float32") if noisy else np.zeros_like(x)
                x = ops.convert_to_numpy(step(x, np.full(b, t, "int32"), np.full(b, t_prev, "int32"),
                                              batch_labels, z))
                if trajectory_every and start == 0 and (i % trajectory_every == 0 or i == len(timesteps) - 1):
                    frames.append(np.clip(x, -1.0, 1.0))
            out.append(np.clip(x, -1.0, 1.0))
        images = np.concatenate(out)
        return (images, frames) if trajectory_every else images


class _ReverseStep:
    """One reverse step of ``model``'s sampler, as a callable that ``backend.compiled`` can trace."""

    def __init__(self, model: Diffusion, sampler: str, guidance: float, eta: float = 0.0, clip: bool = True):
        self.model, self.sampler, self.guidance, self.eta, self.clip = model, sampler, guidance, eta, clip
        self.arrays = model.schedule.arrays()

    def __call__(self, x, t, t_prev, labels, z):
        model, arrays = self.model, self.arrays
        eps = model.predict_noise(x, t, labels if model.conditional else None, self.guidance)
        if self.sampler == "ddpm":
            return ddpm_step(x, t, eps, z, arrays["betas"], arrays["alpha_bars"], arrays["posterior_variance"],
                             clip=self.clip)
        return ddim_step(x, t, t_prev, eps, arrays["alpha_bars"], eta=self.eta, z=z, clip=self.clip)


#: Min-SNR's cap: timesteps whose signal-to-noise ratio is above it are weighed down (Hang et al., 2023).
SNR_GAMMA = 5.0


def timestep_weights(schedule: Schedule, weighting: str = "min_snr") -> np.ndarray:
    """The loss's weight of each timestep: 1 everywhere (``"simple"``), or ``min(SNR_t, 5) / SNR_t``
    (``"min_snr"``: 1 wherever ``SNR_t <= 5``, below 1 where the image is nearly clean)."""
    if weighting not in ("simple", "min_snr"):
        raise CourseError(f"the loss weighting must be 'simple' or 'min_snr', got {weighting!r}.")
    if weighting == "simple":
        return np.ones(schedule.timesteps, np.float32)
    snr = schedule.snr()
    return np.where(snr > SNR_GAMMA, SNR_GAMMA / np.maximum(snr, SNR_GAMMA), 1.0).astype(np.float32)


def noise_prediction_loss(noise, prediction, weights=None):
    """The squared error of the predicted noise, averaged over pixels, then over images (each image
    times its timestep's weight in ``weights``, when given): without weights, ``mean((noise -
    prediction)^2)``, the "simple" DDPM loss. The target is the noise that was added, not the clean
    image (erratum D3)."""
    squared = ops.square(ops.convert_to_tensor(noise, "float32") - ops.cast(prediction, "float32"))
    if weights is None:
        return ops.mean(squared)
    per_image = ops.mean(ops.reshape(squared, (ops.shape(squared)[0], -1)), axis=1)
    return ops.mean(ops.cast(weights, "float32") * per_image)


def make_diffusion(image_shape=(28, 28, 1), width: int = 16, schedule: str = "cosine", timesteps: int = TIMESTEPS,
                   num_classes: int | None = None, label_dropout: float = 0.1, seed: int | None = None,
                   learning_rate: float = 1e-3, ema: float = 0.999, steps_per_execution: int = 1,
                   weighting: str = "min_snr") -> Diffusion:
    """The course's diffusion model, compiled with Adam at a constant learning rate. ``ema`` > 0 keeps an
    exponential moving average of the weights (the optimizer's ``use_ema``), which becomes the weights
    at the end of ``fit`` (averaged weights give markedly cleaner samples)."""
    model = Diffusion(build_unet(image_shape, width, num_classes), Schedule(schedule, timesteps),
                      num_classes=num_classes, label_dropout=label_dropout, seed=seed, weighting=weighting)
    optimizer = keras.optimizers.Adam(learning_rate, use_ema=ema > 0, ema_momentum=ema if ema > 0 else 0.99)
    model.compile(optimizer=optimizer, steps_per_execution=steps_per_execution)
    return model


def use_averaged_weights(model: Diffusion) -> None:
    """Put the moving average of the weights into the model (what ``fit`` does at its end); the same
    again when called twice, a no-op without ``use_ema``."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # under loss scaling
    if getattr(optimizer, "use_ema", False) and optimizer.built:
        optimizer.finalize_variable_values(model.trainable_variables)
