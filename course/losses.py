"""Losses written once and tested once: GAN losses from logits (lesson 02).

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
