"""CycleGAN: unpaired translation between two image domains. Taught in 04_cyclegan.

Two mappings, named for the way they go (erratum Y1: one generator is not a CycleGAN):

* ``G: A -> B`` (MNIST -> MNIST-M) and ``F: B -> A`` (MNIST-M -> MNIST), each a small
  ResNet-style generator (:func:`build_generator`);
* ``D_A`` and ``D_B``: PatchGAN discriminators (:func:`build_discriminator`) that score
  every patch of an image as "real image of my domain" or not.

The objective (erratum Y2: the cycle and identity terms are part of it)::

    L = L_lsgan(G, D_B) + L_lsgan(F, D_A)
        + lambda_A * |F(G(a)) - a|_1 + lambda_B * |G(F(b)) - b|_1     # cycle consistency
        + lambda_id * (|G(b) - b|_1 + |F(a) - a|_1)                   # identity

with least-squares adversarial terms. The paper uses lambda_A = lambda_B = 10; the course's
recipe (:func:`make_cyclegan`) weights the B->A->B round trip 1, because B -> A throws the
photo away and that round trip can only be kept by hiding the photo in F(b). :class:`CycleGAN` owns four optimizers (G, F,
D_A, D_B) and one ``train_step`` that updates each on its own variable list.
Both domains are 28x28x3 here: MNIST's grey is copied to three channels
(:func:`course.data.to_domain_a`) so that the identity term can feed each generator an image of
the domain it produces.

Two lines to translate with a trained run (the train job is :mod:`course.jobs.cyclegan`)::

    g, f = course.jobs.cyclegan.load_generators("runs/cyclegan-mnist_m")
    mnist_like = cyclegan.translate(f, mnist_m_images)       # uint8, (N, 28, 28, 3)
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from .. import backend, losses
from ..data import check_images, from_symmetric, to_domain_a, to_symmetric
from ..errors import ShapeError
from .base import AdversarialTrainStep, OptimizerGroup, apply_in_batches, loss_scaled_optimizer

IMAGE_SHAPE = (28, 28, 3)


# --------------------------------------------------------------------------- building blocks


def instance_norm(name: str) -> layers.Layer:
    """Instance normalisation: each image's each channel to mean 0, variance 1, then a learned scale and shift.

    ``GroupNormalization`` with one group per channel (``groups=-1``) is exactly that.
    Unlike BatchNorm it never mixes images of a batch, so a translation does not depend
    on what else is in the batch, and training and inference behave the same.
    """
    return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)


def _check_shape(image_shape) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or shape[0] != shape[1] or shape[0] % 4:
        raise ShapeError(f"image_shape must be (side, side, channels) with side a multiple of 4 "
                         f"(28 or 32), got {tuple(image_shape)}")
    return shape


def residual_block(x, filters: int, name: str):
    """``x + IN(conv(ReLU(IN(conv(x)))))``: two 3x3 convolutions that refine, not replace, ``x``."""
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = layers.ReLU()(instance_norm(f"{name}_in1")(y))
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = instance_norm(f"{name}_in2")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def build_generator(image_shape=IMAGE_SHAPE, width: int = 32, residual_blocks: int = 4,
                    out_channels: int | None = None, name: str = "generator") -> keras.Model:
    """Images in [-1, 1] -> translated images in [-1, 1], same side.

    The CycleGAN ResNet generator, sized for 28x28/32x32: a 7x7 convolution, two
    stride-2 convolutions (28 -> 14 -> 7), ``residual_blocks`` residual blocks at the
    smallest size (where convolutions are cheapest), two stride-2 transposed
    convolutions back up, and a 7x7 convolution with ``tanh``. Instance norm + ReLU
    after every convolution but the last.
    """
    side, _, channels = _check_shape(image_shape)
    images = keras.Input(shape=(side, side, channels), name="images")
    x = layers.Conv2D(width, 7, padding="same", use_bias=False, name="stem")(images)
    x = layers.ReLU()(instance_norm("stem_in")(x))
    for i, filters in enumerate((2 * width, 4 * width)):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False, name=f"down{i + 1}")(x)
        x = layers.ReLU()(instance_norm(f"down{i + 1}_in")(x))
    for i in range(residual_blocks):
        x = residual_block(x, 4 * width, f"res{i + 1}")
    for i, filters in enumerate((2 * width, width)):
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False, name=f"up{i + 1}")(x)
        x = layers.ReLU()(instance_norm(f"up{i + 1}_in")(x))
    out = layers.Conv2D(out_channels or channels, 7, padding="same", activation="tanh", dtype="float32",
                        name="to_image")(x)
    return keras.Model(images, out, name=name)


def build_unet_generator(image_shape=IMAGE_SHAPE, width: int = 16, residual_blocks: int = 1,
                         out_channels: int | None = None, name: str = "generator") -> keras.Model:
    """Images in [-1, 1] -> translated images in [-1, 1]: a small U-Net.

    The encoder halves the side twice (28 -> 14 -> 7) with stride-2 4x4 convolutions,
    ``residual_blocks`` residual blocks work at 7x7, and the decoder doubles it back
    with transposed convolutions, each time concatenating the encoder's feature map
    of the same size (the skip connections). The skips carry the exact position of
    every stroke to the output, so the network only has to change colour and texture,
    not redraw the digit: the right bias for MNIST <-> MNIST-M. At the same width (16, one
    residual block) it costs about the same arithmetic as the ResNet generator: 04_cyclegan,
    The networks, counts the multiply-adds of both.
    """
    side, _, channels = _check_shape(image_shape)
    images = keras.Input(shape=(side, side, channels), name="images")
    skips = []
    x = layers.Conv2D(width, 3, padding="same", name="enc0")(images)
    x = layers.LeakyReLU(0.2)(x)
    for i, filters in enumerate((2 * width, 4 * width)):
        skips.append(x)
        x = layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=False, name=f"enc{i + 1}")(x)
        x = layers.LeakyReLU(0.2)(instance_norm(f"enc{i + 1}_in")(x))
    for i in range(residual_blocks):
        x = residual_block(x, 4 * width, f"res{i + 1}")
    for i, (filters, skip) in enumerate(zip((2 * width, width), reversed(skips))):
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False, name=f"dec{i + 1}")(x)
        x = layers.ReLU()(instance_norm(f"dec{i + 1}_in")(x))
        x = layers.Concatenate(name=f"skip{i + 1}")([x, skip])
    out = layers.Conv2D(out_channels or channels, 3, padding="same", activation="tanh", dtype="float32",
                        name="to_image")(x)
    return keras.Model(images, out, name=name)


GENERATORS = {"unet": build_unet_generator, "resnet": build_generator}


def build_discriminator(image_shape=IMAGE_SHAPE, width: int = 64, name: str = "discriminator") -> keras.Model:
    """Images in [-1, 1] -> a map of logits, one per overlapping patch (PatchGAN).

    Two stride-2 4x4 convolutions (LeakyReLU; instance norm on the second) and a 3x3
    convolution to one channel: on 28x28 images a 7x7 map whose every score sees an
    18x18 patch. Judging patches rather than whole images is what keeps the
    translation local: texture and colour, not the digit's identity.
    """
    side, _, channels = _check_shape(image_shape)
    images = keras.Input(shape=(side, side, channels), name="images")
    x = layers.Conv2D(width, 4, strides=2, padding="same", name="down1")(images)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(2 * width, 4, strides=2, padding="same", use_bias=False, name="down2")(x)
    x = layers.LeakyReLU(0.2)(instance_norm("down2_in")(x))
    logits = layers.Conv2D(1, 3, padding="same", dtype="float32", name="patch_logits")(x)
    return keras.Model(images, logits, name=name)


class ImagePool(layers.Layer):
    """A pool of past generated images, as in CycleGAN (Shrivastava et al.'s history buffer).

    The discriminator is shown, for each new fake, either that fake or (with
    probability 0.5, once the pool is full) an older fake from the pool, which then
    takes its place. D so keeps seeing what G used to produce and the two networks
    oscillate less. The pool's images, fill count and random state are saved with
    checkpoints. ``size`` must be at least the batch size. (The CycleGAN paper keeps 50
    images for batches of one image; the course keeps 128 for its batches of 32, so that
    the pool holds about four batches' worth of history.)

    Under a TensorFlow distribution strategy every replica reads the same pool and draws
    its own swaps, and the pool keeps what the first replica stored: the pool's variables
    are updated from the first replica only, so every copy of it, and the checkpoint,
    holds one consistent set of images. Written in ``keras.ops``: the same on every backend.
    """

    def __init__(self, size: int = 128, image_shape=IMAGE_SHAPE, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if size < 1:
            raise ValueError(f"pool size must be at least 1, got {size}")
        self.size = int(size)
        self.images = self.add_weight(shape=(self.size, *image_shape), initializer="zeros", trainable=False,
                                      name="images", aggregation="only_first_replica")
        self.count = self.add_weight(shape=(), initializer="zeros", dtype="int32", trainable=False, name="count",
                                     aggregation="only_first_replica")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, fakes):
        n = fakes.shape[0] if fakes.shape[0] is not None else ops.shape(fakes)[0]
        if isinstance(n, int) and n > self.size:
            raise ShapeError(f"a batch of {n} fakes is larger than the image pool ({self.size}); "
                             "make the pool at least one batch.")
        count = ops.convert_to_tensor(self.count.value)
        position = count + ops.arange(n, dtype="int32")
        filling = position < self.size  # the pool is not full yet: store these, show them as they are
        # distinct random slots among the filled ones (unfilled slots sort last)
        noise = backend.uniform((self.size,), self.seed_generator)
        noise = noise + 2.0 * ops.cast(ops.arange(self.size, dtype="int32") >= count, noise.dtype)
        random_slot = ops.cast(ops.argsort(noise)[:n], "int32")
        swap = ops.logical_and(ops.logical_not(filling), backend.uniform((n,), self.seed_generator) < 0.5)
        slot = ops.where(filling, position, random_slot)
        pool = ops.convert_to_tensor(self.images.value)
        old = ops.take(pool, slot, axis=0)
        fakes = ops.cast(fakes, pool.dtype)
        chosen = ops.reshape(ops.logical_or(filling, swap), (-1, 1, 1, 1))
        self.images.assign(ops.scatter_update(pool, ops.expand_dims(slot, 1), ops.where(chosen, fakes, old)))
        self.count.assign(ops.minimum(count + n, self.size))
        return ops.where(ops.reshape(swap, (-1, 1, 1, 1)), old, fakes)


# --------------------------------------------------------------------------- the model


class CycleGAN(AdversarialTrainStep, keras.Model):
    """G: A -> B, F: B -> A, D_A, D_B and the CycleGAN ``train_step``. Taught in 04_cyclegan.

    ``fit(dataset)`` where each element is a pair of *unpaired* batches ``(a, b)`` in
    [-1, 1]. Each step computes every loss term once and updates all four networks,
    each with its own optimizer on its own variables only.
    """

    def __init__(self, g: keras.Model, f: keras.Model, d_a: keras.Model, d_b: keras.Model,
                 cycle_weight: float = 10.0, identity_weight: float = 5.0, pool_size: int = 128,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.g, self.f, self.d_a, self.d_b = g, f, d_a, d_b
        self._check_shapes()
        # one lambda for both round trips, or (lambda_A, lambda_B) for A->B->A and B->A->B
        weights = cycle_weight if isinstance(cycle_weight, (tuple, list)) else (cycle_weight, cycle_weight)
        self.cycle_weight_a, self.cycle_weight_b = (float(w) for w in weights)
        self.identity_weight = float(identity_weight)
        self.adversarial = "lsgan"  # compile() may choose "bce"
        shape = tuple(g.input_shape[1:])
        self.pool_a = ImagePool(pool_size, shape, seed=seed, name="pool_a")  # past F(b): shown to D_A
        self.pool_b = ImagePool(pool_size, shape, seed=None if seed is None else seed + 1, name="pool_b")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in (
            "G_adv", "F_adv", "cycle", "identity", "D_A", "D_B", "D_A(a)", "D_A(F(b))")}
        self.built = True

    def _check_shapes(self):
        shape_a, shape_b = tuple(self.g.input_shape[1:]), tuple(self.f.input_shape[1:])
        pairs = [("G's output", self.g.output_shape[1:], "domain B", shape_b),
                 ("F's output", self.f.output_shape[1:], "domain A", shape_a),
                 ("D_A's input", self.d_a.input_shape[1:], "domain A", shape_a),
                 ("D_B's input", self.d_b.input_shape[1:], "domain B", shape_b)]
        for what, got, domain, want in pairs:
            if tuple(got) != tuple(want):
                raise ShapeError(f"{what} has shape {tuple(got)} but {domain} images are {tuple(want)}. "
                                 "Build G, F, D_A and D_B for the same image shape.")
        if shape_a != shape_b:
            raise ShapeError(f"domain A images {shape_a} and domain B images {shape_b} differ; the identity "
                             "term needs one shape (copy grey images to 3 channels with to_domain_a).")

    def compile(self, g_optimizer, f_optimizer, d_a_optimizer, d_b_optimizer, adversarial: str = "lsgan",
                **kwargs):
        """Four optimizers, one per network, and none of the model's own. ``adversarial`` is ``"lsgan"``
        (least squares, the CycleGAN choice) or ``"bce"`` (lesson 02's cross-entropy losses). Under a
        ``mixed_float16`` policy each optimizer scales its network's loss (``LossScaleOptimizer``)."""
        super().compile(optimizer=None, **kwargs)
        if adversarial not in ("lsgan", "bce"):
            raise ValueError(f"adversarial must be 'lsgan' or 'bce', got {adversarial!r}")
        self.adversarial = adversarial
        self.g_optimizer, self.f_optimizer = loss_scaled_optimizer(g_optimizer), loss_scaled_optimizer(f_optimizer)
        self.d_a_optimizer = loss_scaled_optimizer(d_a_optimizer)
        self.d_b_optimizer = loss_scaled_optimizer(d_b_optimizer)
        self.optimizer = OptimizerGroup(self.optimizers)
        for optimizer in self.optimizers:  # slots now, so checkpoints restore at once
            if not optimizer.built:
                optimizer.build(self.variables_for(optimizer))

    @property
    def metrics(self):
        return list(self.trackers.values())

    def recipe(self) -> dict:
        """The settings the weights depend on beyond their shapes (recorded by run folders)."""
        return {"cycle_weight": [self.cycle_weight_a, self.cycle_weight_b], "identity_weight": self.identity_weight,
                "adversarial": self.adversarial, "pool_size": self.pool_a.size}

    @property
    def optimizers(self):
        return [self.g_optimizer, self.f_optimizer, self.d_a_optimizer, self.d_b_optimizer]

    def variables_for(self, optimizer):
        owners = {id(self.g_optimizer): self.g, id(self.f_optimizer): self.f,
                  id(self.d_a_optimizer): self.d_a, id(self.d_b_optimizer): self.d_b}
        return owners[id(optimizer)].trainable_variables

    def call(self, inputs, training=False):
        """``(a, b) -> (G(a), F(b))``."""
        a, b = inputs
        return self.g(a, training=training), self.f(b, training=training)

    def _g_loss(self, logits):
        if self.adversarial == "lsgan":
            return losses.lsgan_generator_loss(logits)
        return losses.generator_loss(logits)

    def _d_loss(self, real_logits, fake_logits):
        if self.adversarial == "lsgan":
            return losses.lsgan_discriminator_loss(real_logits, fake_logits)
        return losses.discriminator_loss(real_logits, fake_logits)

    def generator_losses(self, real_a, real_b, training=True):
        """Every generator-side term for a batch: a dict of scalars plus the fakes.

        ``total = G_adv + F_adv + lambda_A * cycle_a + lambda_B * cycle_b + identity_weight * identity``
        where ``cycle_a = E|F(G(a)) - a|`` and ``cycle_b = E|G(F(b)) - b|``; ``cycle`` is their sum.
        """
        fake_b = self.g(real_a, training=training)      # G: A -> B
        fake_a = self.f(real_b, training=training)      # F: B -> A
        cycled_a = self.f(fake_b, training=training)    # F(G(a)) should be a
        cycled_b = self.g(fake_a, training=training)    # G(F(b)) should be b
        terms = {
            "G_adv": self._g_loss(self.d_b(fake_b, training=training)),
            "F_adv": self._g_loss(self.d_a(fake_a, training=training)),
            "cycle_a": losses.l1(real_a, cycled_a),
            "cycle_b": losses.l1(real_b, cycled_b),
            "identity": ops.zeros(()),
        }
        terms["cycle"] = terms["cycle_a"] + terms["cycle_b"]  # = losses.cycle_consistency_loss(...)
        if self.identity_weight:
            terms["identity"] = (losses.l1(real_b, self.g(real_b, training=training))
                                 + losses.l1(real_a, self.f(real_a, training=training)))
        terms["total"] = (terms["G_adv"] + terms["F_adv"] + self.cycle_weight_a * terms["cycle_a"]
                          + self.cycle_weight_b * terms["cycle_b"] + self.identity_weight * terms["identity"])
        return terms, fake_a, fake_b

    def discriminator_losses(self, real_a, real_b, fake_a, fake_b, training=True):
        """D_A and D_B on real images and on fakes from the pools of past fakes. ``stop_gradient``:
        no gradient of D's losses reaches G or F. Returns ``(d_a_loss, d_b_loss, D_A(a), D_A(pooled F(b)))``."""
        pooled_a = self.pool_a(ops.stop_gradient(fake_a))
        pooled_b = self.pool_b(ops.stop_gradient(fake_b))
        real_a_logits = self.d_a(real_a, training=training)
        fake_a_logits = self.d_a(pooled_a, training=training)
        d_a_loss = self._d_loss(real_a_logits, fake_a_logits)
        d_b_loss = self._d_loss(self.d_b(real_b, training=training), self.d_b(pooled_b, training=training))
        return d_a_loss, d_b_loss, real_a_logits, fake_a_logits

    def step(self, batch) -> dict:
        """One train step, the same code on TensorFlow, JAX and PyTorch: every loss term computed once,
        then each network updated by its own optimizer on its own variables only.

        G and F both follow the generators' total (the cycle terms involve both, so one backward pass
        serves both); D_A and D_B follow the sum of their losses (each depends on its own weights only,
        so each gets the gradient of its own loss). :meth:`update` takes the gradients and applies them
        (``course.backend``: the only backend-specific code).
        """
        real_a, real_b = batch

        def forward():
            terms, fake_a, fake_b = self.generator_losses(real_a, real_b)
            d_a_loss, d_b_loss, real_a_logits, fake_a_logits = self.discriminator_losses(real_a, real_b, fake_a, fake_b)
            return ({"generators": terms["total"], "discriminators": d_a_loss + d_b_loss},
                    (terms, d_a_loss, d_b_loss, real_a_logits, fake_a_logits))

        _, (terms, d_a_loss, d_b_loss, real_a_logits, fake_a_logits) = self.update(forward, [
            ("generators", self.g_optimizer, self.g.trainable_variables),
            ("generators", self.f_optimizer, self.f.trainable_variables),
            ("discriminators", self.d_a_optimizer, self.d_a.trainable_variables),
            ("discriminators", self.d_b_optimizer, self.d_b.trainable_variables)])
        return self.track({**{k: terms[k] for k in ("G_adv", "F_adv", "cycle", "identity")}, "D_A": d_a_loss,
                           "D_B": d_b_loss, "D_A(a)": ops.mean(real_a_logits), "D_A(F(b))": ops.mean(fake_a_logits)})


@keras.saving.register_keras_serializable(package="course")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """CycleGAN's schedule: ``initial`` for ``constant_steps``, then linearly down to 0 over ``decay_steps``."""

    def __init__(self, initial: float, constant_steps: int, decay_steps: int):
        self.initial, self.constant_steps, self.decay_steps = float(initial), int(constant_steps), int(decay_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        fraction = ops.clip((step - self.constant_steps) / max(1, self.decay_steps), 0.0, 1.0)
        return self.initial * (1.0 - fraction)

    def get_config(self):
        return {"initial": self.initial, "constant_steps": self.constant_steps, "decay_steps": self.decay_steps}


def make_cyclegan(image_shape=IMAGE_SHAPE, *, steps_per_epoch: int = 100, epochs: int = 24,
                  decay_epochs: int | None = None, learning_rate: float = 5e-4, generator: str = "unet",
                  width: int = 16, residual_blocks: int = 1, d_width: int = 32,
                  cycle_weight: float | tuple[float, float] = (10.0, 1.0), identity_weight: float = 5.0,
                  pool_size: int = 128, adversarial: str = "lsgan", seed: int | None = None,
                  jit_compile: bool | str = False, steps_per_execution: int = 1) -> CycleGAN:
    """The course's CycleGAN, compiled: Adam(lr, beta_1=0.5) per network, the learning rate
    constant for the first half of ``epochs`` and falling linearly to 0 over the rest
    (``decay_epochs``, default half).

    The recipe was chosen on the 1,000 validation digits held out of the shared MNIST subset's
    training digits, never on test digits (``python -m course benchmark cyclegan_recipes``: five candidates,
    6 epochs each, B->A / A->B label preservation): U-Net, lr 5e-4, ``cycle_weight=(10, 1)``,
    identity 5 reached 0.477 / 0.924; lr 2e-4 (the paper's rate, for batches of 1) 0.346 / 0.949;
    ``cycle_weight=(10, 10)`` 0.368 / 0.895; identity 0 0.394 / 0.834; the ResNet generator
    0.406 / 0.525. The B->A->B round trip asks F(b) to keep the photo so that G can paint it back;
    weighted 10 it does, and F(b) stops being a clean digit.
    """
    decay_epochs = epochs - epochs // 2 if decay_epochs is None else decay_epochs
    decay_epochs = min(max(0, decay_epochs), epochs)
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {list(GENERATORS)}, got {generator!r}")
    build = GENERATORS[generator]
    model = CycleGAN(
        build(image_shape, width, residual_blocks, name="G_A_to_B"),
        build(image_shape, width, residual_blocks, name="F_B_to_A"),
        build_discriminator(image_shape, d_width, name="D_A"),
        build_discriminator(image_shape, d_width, name="D_B"),
        cycle_weight=cycle_weight, identity_weight=identity_weight, pool_size=pool_size, seed=seed)

    def adam():
        schedule = ConstantThenLinearDecay(learning_rate, (epochs - decay_epochs) * steps_per_epoch,
                                           decay_epochs * steps_per_epoch) if decay_epochs else learning_rate
        return keras.optimizers.Adam(schedule, beta_1=0.5)

    model.compile(adam(), adam(), adam(), adam(), adversarial=adversarial, jit_compile=backend.jit_compile(jit_compile),
                  steps_per_execution=steps_per_execution)
    return model


# --------------------------------------------------------------------------- images in and out


def _symmetric(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 NumPy in [-1, 1] (``data.to_symmetric``); floats pass through."""
    images = np.asarray(images)
    return np.asarray(to_symmetric(images)) if images.dtype == np.uint8 else images


def translate(generator: keras.Model, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Run a generator on uint8 images (grey ones are copied to 3 channels); uint8 out."""
    x = to_domain_a(images)
    check_images(x, generator.input_shape[1:], "images to translate")
    return from_symmetric(apply_in_batches(generator, _symmetric(x), batch_size))


def side_by_side(model: CycleGAN, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows ``a, G(a), F(G(a)), b, F(b), G(F(b))`` for uint8 images ``a`` (grey or 3-channel) and ``b``: (6n, H, W, 3) uint8."""
    x_a, x_b = _symmetric(to_domain_a(a)), _symmetric(b)
    g_a = model.g(x_a, training=False)
    f_b = model.f(x_b, training=False)
    rows = [x_a, g_a, model.f(g_a, training=False), x_b, f_b, model.g(f_b, training=False)]
    return np.concatenate([from_symmetric(r) for r in rows])
