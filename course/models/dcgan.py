"""DCGAN: a generator and a discriminator trained against each other. Taught in 02_dcgan.

* ``build_generator(image_shape)``: noise ``z`` -> image in [-1, 1] of ``image_shape``.
* ``build_discriminator(image_shape)``: image -> one logit ("how real").
* ``DCGAN``: a ``keras.Model`` whose ``train_step`` updates D on real images labelled
  real and generated images labelled fake, then G through D with D held fixed, each
  on an explicit variable list. ``fit()`` then gives progress bars, callbacks,
  checkpoints and distribution strategies.

Two lines to sample from a trained run (the train job is :mod:`course.jobs.dcgan`)::

    generator = course.jobs.dcgan.load_generator("runs/dcgan-mnist")
    images = dcgan.sample(generator, 16)      # uint8, (16, 28, 28, 1)
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from .. import backend, losses
from ..data import from_symmetric
from ..errors import ShapeError
from .base import AdversarialTrainStep, OptimizerGroup, apply_in_batches, loss_scaled_optimizer

LATENT_DIM = 64


def _start_size(image_shape) -> tuple[int, int]:
    """Side of the first feature map and number of 2x upsamplings to reach the image."""
    side = int(image_shape[0])
    if image_shape[0] != image_shape[1]:
        raise ShapeError(f"square images only, got {tuple(image_shape)}")
    for ups in (3, 2):  # 32 = 4 * 2**3, 28 = 7 * 2**2
        if side % 2**ups == 0:
            return side // 2**ups, ups
    raise ShapeError(f"image side {side} is not a multiple of 4; use 28x28 or 32x32 images")


def build_generator(image_shape=(28, 28, 1), latent_dim: int = LATENT_DIM, width: int = 32,
                    upsample: str = "transpose") -> keras.Model:
    """Noise ``(batch, latent_dim)`` -> images ``(batch, *image_shape)`` in [-1, 1].

    A dense layer makes a small feature map; each block doubles its side and halves
    its channels; a final convolution with ``tanh`` makes the pixels. ``upsample``
    is ``"transpose"`` (strided transposed convolution, kernel 4: divisible by the
    stride, fewer checkerboard artefacts) or ``"resize"`` (nearest-neighbour
    upsampling + 3x3 convolution: none at all, but slower).
    Not a single linear map ``W z + b`` (erratum G9): the non-linear layers are the point.
    """
    if upsample not in ("transpose", "resize"):
        raise ValueError(f"upsample must be 'transpose' or 'resize', got {upsample!r}")
    start, ups = _start_size(image_shape)
    channels = width * 2**ups
    z = keras.Input(shape=(latent_dim,), name="z")
    x = layers.Dense(start * start * channels, use_bias=False, name="project")(z)
    x = layers.BatchNormalization(name="project_bn")(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((start, start, channels))(x)
    for i in range(ups):
        channels //= 2
        if upsample == "transpose":
            x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False, name=f"up{i + 1}")(x)
        else:
            x = layers.UpSampling2D(2, name=f"up{i + 1}_resize")(x)
            x = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"up{i + 1}")(x)
        x = layers.BatchNormalization(name=f"up{i + 1}_bn")(x)
        x = layers.ReLU()(x)
    images = layers.Conv2D(image_shape[-1], 3, padding="same", activation="tanh", dtype="float32", name="to_image")(x)
    return keras.Model(z, images, name="generator")


def build_discriminator(image_shape=(28, 28, 1), width: int = 64, dropout: float = 0.0) -> keras.Model:
    """Images ``(batch, *image_shape)`` in [-1, 1] -> one logit each (no sigmoid).

    Strided convolutions with LeakyReLU and no BatchNorm, so D behaves the same in
    every step. Optional dropout before the last layer weakens D, a fix for "D wins";
    by default D is left at full strength, which on MNIST gave G a clearer signal
    and recognisable digits sooner than 32 filters with dropout 0.3.
    """
    _, downs = _start_size(image_shape)
    images = keras.Input(shape=tuple(image_shape), name="images")
    x = images
    for i in range(downs):
        x = layers.Conv2D(width * 2**i, 4, strides=2, padding="same", name=f"down{i + 1}")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    logits = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(images, logits, name="discriminator")


def check_compatible(generator: keras.Model, discriminator: keras.Model) -> None:
    """Raise :class:`ShapeError` unless G's images fit D's input (erratum G1)."""
    made, wanted = tuple(generator.output_shape[1:]), tuple(discriminator.input_shape[1:])
    if made != wanted:
        raise ShapeError(
            f"The generator makes images of shape {made} but the discriminator expects {wanted}. "
            "Build both for the same image shape, e.g. build_generator(image_shape) and "
            "build_discriminator(image_shape)."
        )


class DCGAN(AdversarialTrainStep, keras.Model):
    """Generator + discriminator with the adversarial ``train_step``. Taught in 02_dcgan, Train step.

    ``fit(dataset_of_real_images)``: each step (:meth:`step`) updates D once, then G once. It is
    written once for TensorFlow, JAX and PyTorch; :class:`~course.models.base.AdversarialTrainStep`
    holds the few lines that differ.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int | None = None,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        check_compatible(generator, discriminator)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim or generator.input_shape[-1])
        if self.latent_dim != generator.input_shape[-1]:
            raise ShapeError(
                f"latent_dim={self.latent_dim} but the generator takes noise of size "
                f"{generator.input_shape[-1]} (erratum G10): use the generator's own input size."
            )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="D(x)")
        self.d_fake_tracker = keras.metrics.Mean(name="D(G(z))")
        self.built = True  # both networks are built already; lets weights be saved before fit

    def compile(self, d_optimizer, g_optimizer, g_loss: str = "non_saturating", real_label: float = 1.0, **kwargs):
        """Two optimizers, one per network, and no optimizer of the model's own. Under a
        ``mixed_float16`` policy each is wrapped in a ``LossScaleOptimizer`` so small float16
        gradients do not underflow.
        """
        super().compile(optimizer=None, **kwargs)
        if g_loss not in losses.GENERATOR_LOSSES:
            raise ValueError(f"g_loss must be one of {losses.GENERATOR_LOSSES}, got {g_loss!r}")
        self.d_optimizer, self.g_optimizer = loss_scaled_optimizer(d_optimizer), loss_scaled_optimizer(g_optimizer)
        self.optimizer = OptimizerGroup([self.d_optimizer, self.g_optimizer])
        self.g_loss_kind, self.real_label = g_loss, float(real_label)
        # Create the optimizers' slots now, not lazily inside a replicated step function
        # (which a distribution strategy rejects); checkpoints can then be restored at once.
        for optimizer in self.optimizers:
            if not optimizer.built:
                optimizer.build(self.variables_for(optimizer))

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    def recipe(self) -> dict:
        """The settings the weights depend on beyond their shapes (recorded by run folders)."""
        return {"latent_dim": self.latent_dim, "g_loss": getattr(self, "g_loss_kind", None),
                "real_label": getattr(self, "real_label", None)}

    # The checkpoint helpers build and restore every optimizer of a model through these two.
    @property
    def optimizers(self):
        return [self.d_optimizer, self.g_optimizer]

    def variables_for(self, optimizer):
        return (self.discriminator if optimizer is self.d_optimizer else self.generator).trainable_variables

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def noise(self, batch_size):
        """Fresh noise ``z ~ N(0, I)`` from the model's own seed generator (a different draw on each replica)."""
        return backend.normal((batch_size, self.latent_dim), self.seed_generator)

    def d_loss(self, real_logits, fake_logits):
        """D's loss: real images labelled ``real_label`` (1, or 0.9 smoothed), fakes labelled 0 (G6, G7)."""
        return losses.discriminator_loss(real_logits, fake_logits, self.real_label)

    def g_loss(self, fake_logits):
        """G's loss on D's logits for its images: non-saturating or minimax (G7)."""
        return losses.generator_loss(fake_logits, self.g_loss_kind)

    def step(self, real_images) -> dict:
        """One train step, the same code on TensorFlow, JAX and PyTorch: D once, then G once.

        D: real images labelled real, fresh fakes labelled fake; only D's variables are updated, and
        the fakes are constants here (``stop_gradient``): D's loss sends nothing back into G.
        G: through the updated D; the gradient flows through D into G, but only G's variables are
        updated (erratum G3, G5): no ``discriminator.trainable = False`` juggling, which in Keras 3
        would also switch BatchNorm layers to inference mode. :meth:`update` takes the gradients and
        applies them (``course.backend``: the only backend-specific code).
        """
        real_images = _images(real_images)
        batch = ops.shape(real_images)[0]
        fake_images = ops.stop_gradient(self.generator(self.noise(batch), training=True))

        def discriminator_pass():
            real_logits = self.discriminator(real_images, training=True)
            fake_logits = self.discriminator(fake_images, training=True)
            return {"d_loss": self.d_loss(real_logits, fake_logits)}, (real_logits, fake_logits)

        d_losses, (real_logits, fake_logits) = self.update(
            discriminator_pass, [("d_loss", self.d_optimizer, self.discriminator.trainable_variables)])

        def generator_pass():
            fake_logits = self.discriminator(self.generator(self.noise(batch), training=True), training=True)
            return {"g_loss": self.g_loss(fake_logits)}, None

        g_losses, _ = self.update(generator_pass, [("g_loss", self.g_optimizer, self.generator.trainable_variables)])
        return self.track({"d_loss": d_losses["d_loss"], "g_loss": g_losses["g_loss"],
                           "D(x)": ops.mean(ops.sigmoid(real_logits)), "D(G(z))": ops.mean(ops.sigmoid(fake_logits))})

    # ------------------------------------------------------------------ measuring the game (02_dcgan, When GANs fail)

    def game_state(self, real_images, z) -> dict:
        """Where the game stands, without changing anything: D's mean probability that real images and
        G(z) are real, and the norm of the gradient G's own loss gives G's weights for noise ``z``."""
        g_vars = self.generator.trainable_variables
        with backend.preserved(self.generator.non_trainable_variables):  # BatchNorm statistics stay as they are
            fake_logits = self.discriminator(self.generator(z, training=True), training=False)
            _, grads = backend.value_and_grad(
                lambda: self.g_loss(self.discriminator(self.generator(z, training=True), training=False)), g_vars)
        real = ops.mean(ops.sigmoid(self.discriminator(real_images, training=False)))
        return {"D(x)": float(ops.convert_to_numpy(real)),
                "D(G(z))": float(ops.convert_to_numpy(ops.mean(ops.sigmoid(fake_logits)))),
                "G gradient norm": backend.global_norm(grads)}


def _images(data):
    """The images of a batch (``(images, labels)`` batches: labels unused)."""
    return data[0] if isinstance(data, (tuple, list)) else data


def make_dcgan(image_shape, latent_dim: int = LATENT_DIM, upsample: str = "transpose", seed: int | None = None,
               learning_rate: float = 2e-4, g_loss: str = "non_saturating", real_label: float = 1.0,
               jit_compile: bool | str = False, steps_per_execution: int = 1, ema: float = 0.0) -> DCGAN:
    """The course's DCGAN for ``image_shape``, compiled with Adam (beta_1 = 0.5) for both networks.

    ``ema`` > 0 keeps an exponential moving average of the generator's weights with that momentum (the
    optimizer's ``use_ema``; training itself is unchanged); :func:`use_averaged_weights` puts it into the
    generator when training is over.

    ``jit_compile="gpu"`` (or True) compiles the train step with XLA on TensorFlow where a GPU is visible,
    ``"always"`` on a CPU too, ``"never"`` (or False) not at all (:func:`course.backend.jit_compile`; whether XLA pays on a CPU depends on the machine: the results
    registry's ``throughput.tf_cpu`` and ``speed.xla_cpu`` records). On JAX the step is always compiled;
    on PyTorch it runs eagerly.
    """
    gan = DCGAN(build_generator(image_shape, latent_dim, upsample=upsample), build_discriminator(image_shape),
                latent_dim=latent_dim, seed=seed)
    gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5, use_ema=ema > 0,
                                                  ema_momentum=ema if ema > 0 else 0.99),
                g_loss=g_loss, real_label=real_label, jit_compile=backend.jit_compile(jit_compile),
                steps_per_execution=steps_per_execution)
    return gan


def use_averaged_weights(gan: DCGAN) -> None:
    """Put the moving average of the generator's weights into the generator (a no-op without ``ema``);
    the same again when called twice, and nothing before a first step (no average yet). The discriminator
    keeps its last weights. BatchNorm's running statistics stay those gathered with G's last weights."""
    optimizer = getattr(gan.g_optimizer, "inner_optimizer", gan.g_optimizer)  # under loss scaling
    if optimizer.use_ema and optimizer.built and int(keras.ops.convert_to_numpy(optimizer.iterations)) > 0:
        optimizer.finalize_variable_values(gan.generator.trainable_variables)


def fixed_noise(n: int, latent_dim: int = LATENT_DIM, seed: int = 1234) -> np.ndarray:
    """The same ``n`` noise vectors every time (for grids and GIFs that show the same samples improve)."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")


def sample(generator: keras.Model, n: int, seed: int = 0, batch_size: int = 500) -> np.ndarray:
    """``n`` uint8 images from ``generator`` with noise from ``seed``."""
    z = fixed_noise(n, generator.input_shape[-1], seed)
    return from_symmetric(apply_in_batches(generator, z, batch_size))
