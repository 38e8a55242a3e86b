"""Losses written once and tested once: GAN losses from logits (lesson 02), the ELBO
(lesson 03), least-squares and cycle-consistency losses (lesson 04).

Notation: ``D(x)`` is the discriminator's *logit* for image ``x``; the probability
that ``x`` is real is ``sigmoid(D(x))``. With logits the cross-entropies are
softplus expressions, which stay finite where ``log(sigmoid(.))`` would underflow:

* ``-log sigmoid(t)     = softplus(-t)``
* ``-log(1 - sigmoid(t)) = softplus(t)``

Discriminator (it *minimises* this; erratum G7): ``-E log sigmoid(D(x)) - E log(1 - sigmoid(D(G(z))))``,
i.e. real images labelled real, generated images labelled fake (erratum G6).

Generator: it never sees real data, so its loss has no real-data term (G7).

* minimax: minimise ``E log(1 - sigmoid(D(G(z))))`` -- the original game; its gradient
  vanishes when D confidently rejects the fakes, which is exactly early training;
* non-saturating: minimise ``-E log sigmoid(D(G(z)))`` -- same fixed point, strong gradients
  early. The course's default.
"""
from __future__ import annotations

from keras import ops

GENERATOR_LOSSES = ("non_saturating", "minimax")


def discriminator_loss(real_logits, fake_logits, real_label: float = 1.0):
    """Mean binary cross-entropy of D: real images -> ``real_label`` (1, or 0.9 for
    one-sided label smoothing), generated images -> 0.
    """
    real_term = real_label * ops.softplus(-real_logits) + (1.0 - real_label) * ops.softplus(real_logits)
    fake_term = ops.softplus(fake_logits)
    return ops.mean(real_term) + ops.mean(fake_term)


def generator_loss(fake_logits, kind: str = "non_saturating"):
    """The generator's loss on D's logits for its images (see the module docstring)."""
    if kind == "non_saturating":
        return ops.mean(ops.softplus(-fake_logits))
    if kind == "minimax":
        return -ops.mean(ops.softplus(fake_logits))
    raise ValueError(f"generator loss must be one of {GENERATOR_LOSSES}, got {kind!r}")


# --------------------------------------------------------------------------- lesson 03: the ELBO
#
# For a VAE with encoder q(z|x) = N(mean, exp(log_var)), prior p(z) = N(0, I) and a
# Bernoulli decoder p(x|z) with logits, the loss per image is the negative ELBO
#
#     -ELBO(x) = -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z))           (erratum V2)
#
# in nats: summed over pixels and latent dimensions, averaged over the batch (V5).


def bernoulli_log_likelihood(x, logits):
    """``log p(x|z)`` per image for binary pixels ``x`` and decoder ``logits``, summed over pixels.

    ``x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)) = x * l - softplus(l)``.
    """
    x, logits = ops.convert_to_tensor(x, "float32"), ops.convert_to_tensor(logits, "float32")
    per_pixel = x * logits - ops.softplus(logits)
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=1)


def gaussian_kl(mean, log_var):
    """``KL(N(mean, exp(log_var)) || N(0, I))`` per image, summed over latent dimensions.

    Analytic, per data point under q(z|x) (erratum V3): ``0.5 * sum(exp(lv) + m^2 - 1 - lv)``.
    """
    mean, log_var = ops.convert_to_tensor(mean), ops.convert_to_tensor(log_var)
    return 0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=1)


def gaussian_log_density(z, mean, log_var):
    """``log N(z; mean, exp(log_var))`` summed over the last axis."""
    log_2pi = 1.8378770664093453
    z, mean, log_var = (ops.convert_to_tensor(t) for t in (z, mean, log_var))
    return -0.5 * ops.sum(log_2pi + log_var + ops.square(z - mean) / ops.exp(log_var), axis=-1)


def negative_elbo(x, logits, mean, log_var, beta: float = 1.0):
    """``(loss, reconstruction, kl)``, each the batch mean of a per-image sum, in nats.

    ``reconstruction = -E_q[log p(x|z)]`` estimated with the one ``z`` that made ``logits``.
    """
    reconstruction = -bernoulli_log_likelihood(x, logits)
    kl = gaussian_kl(mean, log_var)
    return ops.mean(reconstruction + beta * kl), ops.mean(reconstruction), ops.mean(kl)


def iwae_bound(log_weights):
    """Importance-weighted bound from ``log_weights`` of shape ``(batch, k)``:

    ``log (1/k) sum_i p(x, z_i) / q(z_i|x)``, per image. With ``k = 1`` it is the ELBO
    estimate; it tightens (rises towards ``log p(x)``) as ``k`` grows.
    """
    k = ops.shape(log_weights)[1]
    return ops.logsumexp(log_weights, axis=1) - ops.log(ops.cast(k, log_weights.dtype))


# --------------------------------------------------------------------------- lesson 04: CycleGAN
#
# Least-squares GAN (Mao et al.): D regresses its output to 1 on real images and 0 on
# fakes; G pushes D's output on its fakes to 1. The squares give gradients that keep
# pulling fakes towards the real data even when D already tells them apart, and are
# what CycleGAN trains with. D's outputs here are raw scores (a PatchGAN map), no sigmoid.


def lsgan_discriminator_loss(real_scores, fake_scores):
    """``0.5 * (E (D(x) - 1)^2 + E D(fake)^2)``, averaged over images and patches."""
    real_scores, fake_scores = ops.convert_to_tensor(real_scores), ops.convert_to_tensor(fake_scores)
    return 0.5 * (ops.mean(ops.square(real_scores - 1.0)) + ops.mean(ops.square(fake_scores)))


def lsgan_generator_loss(fake_scores):
    """``E (D(fake) - 1)^2``: the generator wants every patch of its images scored real."""
    return ops.mean(ops.square(ops.convert_to_tensor(fake_scores) - 1.0))


def l1(x, y):
    """Mean absolute difference ``E |x - y|`` (per pixel and channel)."""
    return ops.mean(ops.abs(ops.subtract(x, y)))


def cycle_consistency_loss(real_a, cycled_a, real_b, cycled_b):
    """``E|F(G(a)) - a|_1 + E|G(F(b)) - b|_1``: a round trip must come back to where it started (erratum Y2).

    Unweighted; the model multiplies it by ``lambda`` (10 in the paper). Zero exactly
    when both round trips are the identity.
    """
    return l1(real_a, cycled_a) + l1(real_b, cycled_b)
