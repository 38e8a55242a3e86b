"""Scoring with models: class predictions and features from a course classifier, label
preservation of a translation, and a VAE's nats on a test set.

The maths on the resulting arrays (accuracy, Fréchet distance, KID, histograms) is in
:mod:`course.metrics`; the cached evaluator classifiers themselves are trained by
:mod:`course.jobs.evaluators`.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from . import backend, losses, metrics
from .data import to_grey
from .metrics import accuracy
from .models.base import apply_in_batches
from .models.cnn import build_classifier
from .models.cyclegan import translate


def predict_classes(model, images, batch_size: int = 512) -> np.ndarray:
    """Class predictions (argmax of the logits) for uint8 or [0, 1] float images."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    return np.argmax(apply_in_batches(model, x, batch_size), axis=-1)


def classifier_features(model, images, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """``(features, predicted_classes)`` of uint8 images under a course classifier."""
    both = keras.Model(model.input, [model.get_layer("features").output, model.output])
    x = np.asarray(images)
    x = x.astype("float32") / 255.0 if x.dtype == np.uint8 else x
    if len(x) == 0:
        raise ValueError("no images to score (the array is empty)")
    parts = [[ops.convert_to_numpy(o) for o in both(x[i: i + batch_size], training=False)]
             for i in range(0, len(x), batch_size)]
    features, logits = (np.concatenate([p[j] for p in parts]) for j in range(2))
    return features, np.argmax(logits, axis=-1)


def inception_features(images, batch_size: int = 50) -> tuple[np.ndarray | None, str]:
    """Inception-v3 pool features of uint8 colour images, for a true (Inception) FID.

    Returns ``(features, "")`` or ``(None, reason)`` when the ImageNet weights cannot be
    loaded (they are downloaded on first use: offline machines cannot), so callers
    can say plainly why only the classifier-feature distance is reported.
    """
    try:
        model = keras.applications.InceptionV3(include_top=False, weights="imagenet", pooling="avg",
                                               input_shape=(299, 299, 3))
    except Exception as err:  # no network, blocked download, corrupt cache
        first = str(err).splitlines()[0][:160] if str(err) else ""
        return None, f"Inception-v3 ImageNet weights could not be loaded ({type(err).__name__}: {first})"
    out = []
    for start in range(0, len(images), batch_size):
        x = ops.image.resize(ops.cast(images[start: start + batch_size], "float32"), (299, 299))
        out.append(ops.convert_to_numpy(model(keras.applications.inception_v3.preprocess_input(x), training=False)))
    return np.concatenate(out), ""


# --------------------------------------------------------------------------- lesson 04: translations


def label_preservation(generator: keras.Model, images: np.ndarray, labels: np.ndarray, judge: keras.Model,
                       grey: bool = False, batch_size: int = 500) -> float:
    """Accuracy of the classifier ``judge`` on ``generator(images)`` against the source digits' labels.

    A translation that keeps the digit keeps its label. ``grey=True`` averages the
    channels first, for a classifier of grey images (the MNIST one, judging F(b)).
    """
    translated = translate(generator, images, batch_size=batch_size)
    return accuracy(labels, predict_classes(judge, to_grey(translated) if grey else translated))


class LabelPreservation(keras.callbacks.Callback):
    """After every epoch, log a translation's label preservation on fixed (validation) images, so
    history.csv shows it improving: ``direction="b_to_a"`` judges F(b) with a classifier of grey
    digits, ``"a_to_b"`` judges G(a) with a classifier of the B domain."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, judge: keras.Model, direction: str = "b_to_a",
                 key: str | None = None):
        super().__init__()
        if direction not in ("b_to_a", "a_to_b"):
            raise ValueError(f"direction must be 'b_to_a' or 'a_to_b', got {direction!r}")
        self.images, self.labels, self.judge, self.direction = images, labels, judge, direction
        self.key = key or f"{direction}_accuracy"

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            network = self.model.f if self.direction == "b_to_a" else self.model.g
            logs[self.key] = label_preservation(network, self.images, self.labels, self.judge,
                                                grey=self.direction == "b_to_a")


# --------------------------------------------------------------------------- lesson 03: nats


def evaluate_nats(vae, x_binary: np.ndarray, iwae_k: int, batch_size: int = 250, seed: int = 0) -> dict:
    """Figures in nats per image on binary images ``x_binary``. Taught in 03_vae, Measure.

    * ``neg_elbo_nats``: the negative ELBO with beta = 1 (one sample of z per image), its two terms
      ``recon_nats`` and ``kl_nats``. An upper bound on -log p(x).
    * ``iwae_nats``: the negative importance-weighted bound with ``iwae_k`` samples per image,
      ``-log (1/k) sum_i p(x, z_i) / q(z_i|x)``: tighter, and it tightens as k grows.

    The noise comes from NumPy with ``seed``, so the figures are the same on every backend.
    """
    rng = np.random.default_rng(seed)

    def per_image(x, eps_one, eps_k):
        mean, log_var = vae.encode(x)
        logits = vae.decoder(mean + ops.exp(0.5 * log_var) * eps_one)
        return (-losses.bernoulli_log_likelihood(x, logits), losses.gaussian_kl(mean, log_var),
                -losses.iwae_bound(vae.log_weights(x, eps_k)))

    step = backend.compiled(per_image)  # traced or jitted once: the bound decodes iwae_k samples of every image
    parts = []
    for i in range(0, len(x_binary), batch_size):
        x = np.asarray(x_binary[i: i + batch_size], dtype="float32")
        eps_one = rng.standard_normal((len(x), vae.latent_dim)).astype("float32")
        eps_k = rng.standard_normal((len(x), iwae_k, vae.latent_dim)).astype("float32")
        parts.append([ops.convert_to_numpy(p) for p in step(*map(ops.convert_to_tensor, (x, eps_one, eps_k)))])
    recon, kl, iwae = (float(np.mean(np.concatenate([p[j] for p in parts]))) for j in range(3))
    return {"neg_elbo_nats": round(recon + kl, 3), "recon_nats": round(recon, 3), "kl_nats": round(kl, 3),
            "iwae_nats": round(iwae, 3), "iwae_k": int(iwae_k)}


# --------------------------------------------------------------------------- lesson 02: the game, step by step


class GameMonitor(keras.callbacks.Callback):
    """Every ``every`` training steps, where the adversarial game stands: D's mean probability that
    fixed real images and G's images of fixed noise are real, and the norm of the gradient G's own
    loss gives G's weights (:meth:`course.models.dcgan.DCGAN.game_state`). Taught in 02_dcgan,
    When GANs fail: a healthy game keeps D(G(z)) away from 0 and G's gradient alive.

    ``records`` holds one dict per measurement, with ``step``.
    """

    def __init__(self, real_images, noise, every: int = 5):
        super().__init__()
        self.real_images, self.noise, self.every = real_images, noise, int(every)
        self.records: list[dict] = []
        self.step = 0

    def on_train_begin(self, logs=None):
        if not self.records:
            self._measure()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self._measure()

    def _measure(self):
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:  # JAX keeps the state outside the variables during fit
            sync()
        self.records.append({"step": self.step, **self.model.game_state(self.real_images, self.noise)})

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one measured quantity."""
        return (np.array([r["step"] for r in self.records]), np.array([r[key] for r in self.records]))


# --------------------------------------------------------------------------- lesson 05: judging a set of images


def blur(images: np.ndarray, radius: int = 2) -> np.ndarray:
    """A box blur of uint8 images ``(N, H, W, C)`` over a ``(2 radius + 1)``-pixel square: the
    "blurry samples" baseline (real digits, every stroke smeared)."""
    x = np.asarray(images, np.float32)
    padded = np.pad(x, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="edge")
    size = 2 * radius + 1
    out = sum(padded[:, i: i + x.shape[1], j: j + x.shape[2]] for i in range(size) for j in range(size)) / size ** 2
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def score_images(images: np.ndarray, judge, real_features: np.ndarray, class_names, train_images: np.ndarray,
                 heldout_images: np.ndarray, n: int, seed: int = 0) -> dict:
    """Every measure of lesson 05 for one set of uint8 images, against real test images.

    Fréchet distance and KID in the classifier's features at ``n`` images per side (mean and
    spread over random subsets), precision and recall (k = 3), the predicted-class histogram,
    and the memorisation test against the training images (pixels, with held-out real images).
    ``n`` is at most half of each pool (``images`` and ``real_features``), so that every repeat
    draws new images on *both* sides and the spread covers the generated images' chance too.
    """
    features, classes = classifier_features(judge, images)
    n = min(n, len(features) // 2, len(real_features) // 2)
    fd = metrics.frechet_distance_subsets(features, real_features, n, repeats=5, seed=seed)
    kid = metrics.kid_subsets(features, real_features, subsets=10, subset_size=min(1000, n // 2), seed=seed)
    pr = metrics.precision_recall(real_features[:n], features[:n])
    m = min(len(images), len(heldout_images), 1000)
    return {"images": int(len(images)), "n": int(n),
            "fd": round(float(fd.mean()), 3), "fd_std": round(float(fd.std()), 3),
            "kid": round(float(kid.mean()), 4), "kid_std": round(float(kid.std()), 4),
            "precision": round(pr["precision"], 3), "recall": round(pr["recall"], 3),
            "class_histogram": metrics.class_histogram(classes, class_names),
            "memorisation": metrics.memorisation(images[:m], train_images, heldout_images[:m])}


def train_detector(real: np.ndarray, generated: np.ndarray, epochs: int = 3, batch_size: int = 64,
                   seed: int = 0) -> keras.Model:
    """A small CNN that tells real images (label 0) from generated ones (label 1), trained on
    equal numbers of each (uint8 images of one shape)."""
    n = min(len(real), len(generated))
    if n < batch_size:
        raise ValueError(f"{n} images per class is less than one batch of {batch_size}")
    keras.utils.set_random_seed(seed)
    x = np.concatenate([real[:n], generated[:n]]).astype("float32") / 255.0
    y = np.concatenate([np.zeros(n, "int32"), np.ones(n, "int32")])
    order = np.random.default_rng(seed).permutation(len(x))
    model = build_classifier(real.shape[1:], 2, widths=(16, 32), convs=(1, 1), dropout=0.1, name="detector")
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x[order], y[order], epochs=epochs, batch_size=batch_size, verbose=0)
    return model


def detector_scores(model, images: np.ndarray) -> np.ndarray:
    """The detector's probability that each image was generated."""
    x = np.asarray(images)
    x = x.astype("float32") / 255.0 if x.dtype == np.uint8 else x
    logits = apply_in_batches(model, x, 500)
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p[:, 1] / p.sum(axis=1)
