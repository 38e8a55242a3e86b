"""What the model families share: several optimizers seen by ``fit`` as one, the one train step of
the models with several networks (:class:`AdversarialTrainStep`), and batched calls.

Taught in 02_dcgan (the train step) and used by 04.
"""
from __future__ import annotations

import contextlib

import keras
import numpy as np

from .. import backend
from ..errors import CourseError


class OptimizerGroup:
    """The optimizers of a model with several networks, as ``model.optimizer`` for ``fit``.

    A GAN owns one optimizer per network. ``fit`` on JAX threads the optimizer's state
    through each step as a list of values (``model.optimizer.variables``); this group
    gives it all of them in one list, and :meth:`split` cuts such a list back into one
    list per optimizer. It is not an optimizer itself, so no unused optimizer is built or
    saved: each network's optimizer is saved under its own name.
    """

    def __init__(self, optimizers):
        self.optimizers = list(optimizers)

    @property
    def variables(self) -> list:
        return [v for o in self.optimizers for v in o.variables]

    @property
    def built(self) -> bool:
        return all(o.built for o in self.optimizers)

    @property
    def iterations(self):
        return self.optimizers[0].iterations

    def split(self, values: list) -> list[list]:
        """One list of ``values`` (in the order of :attr:`variables`) per optimizer."""
        out, start = [], 0
        for optimizer in self.optimizers:
            out.append(list(values[start: start + len(optimizer.variables)]))
            start += len(optimizer.variables)
        return out

    def finalize_variable_values(self, variables) -> None:  # what fit() asks of an optimizer at the end
        pass


def loss_scaled_optimizer(optimizer):
    """``optimizer`` wrapped in a ``LossScaleOptimizer`` under a ``mixed_float16`` policy (float16
    gradients would underflow without it); as it is otherwise."""
    if keras.mixed_precision.global_policy().name == "mixed_float16" and not isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


# --------------------------------------------------------------------------- one train step, three backends


class PrecisionError(CourseError):
    """The dtype policy changed after the model's optimizers were made."""


def check_precision(model: keras.Model, optimizers: list) -> None:
    """Refuse to train when the precision was changed after the model was built and compiled.

    Under ``mixed_float16`` every optimizer must scale its loss (``LossScaleOptimizer``, made in
    ``compile``), or small float16 gradients underflow to zero and training silently stalls; and the
    networks must have been built under the policy in force (layers keep the policy they were built
    with, so a policy set afterwards would not change what they compute).
    """
    policy = keras.mixed_precision.global_policy().name
    computes = {layer.dtype_policy.compute_dtype for layer in model._flatten_layers(include_self=False)
                if layer.weights and layer.dtype_policy.compute_dtype != "float32"}
    if ("float16" in computes or policy == "mixed_float16") and not all(scales_loss(o) for o in optimizers):
        raise PrecisionError(
            f"the model trains in float16 (policy {policy!r}) but its optimizers do not scale the loss: the "
            "precision was changed after compile(). Set it first (keras.mixed_precision.set_global_policy, "
            "or --precision), then build and compile the model.")
    wanted = keras.mixed_precision.Policy(policy).compute_dtype
    if wanted != "float32" and wanted not in computes:
        raise PrecisionError(
            f"the global policy is {policy!r} but the model was built in float32: the precision was changed "
            "after the model was built. Set it first, then build and compile the model.")


class AdversarialTrainStep:
    """The train step of the course's models with several networks and optimizers, written once.

    A model's :meth:`step` is one backend-neutral function: it calls :meth:`update` with a forward
    pass that returns named losses, and a plan saying which optimizer applies the gradient of which
    loss to which variables. :mod:`course.backend` does the rest (TensorFlow's ``GradientTape``,
    JAX's ``jax.vjp`` and ``stateless_apply``, PyTorch's ``autograd``). Taught in 02_dcgan, Train step.
    """

    def train_step(self, *args):
        """What ``fit()`` runs for every batch: :meth:`step`, made stateless on JAX."""
        if backend.name() == "jax":
            state, data = args
            return backend.stateless_step(self, self.step, state, data)
        return self.step(*args)

    def step(self, data) -> dict:
        raise NotImplementedError

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Nothing to build: the networks are built when the model is made. (Keras' TensorFlow trainer
        would trace the model on a sample batch reduced over the replicas, which fails under
        ``MultiWorkerMirroredStrategy``.)"""

    def update(self, forward, plan: list) -> tuple[dict, object]:
        """Run ``forward()`` -> ``(losses: {name: scalar}, aux)`` once, then for each ``(loss name,
        optimizer, variables)`` of ``plan`` let ``optimizer`` apply the gradient of that loss to
        ``variables`` (and to nothing else). Returns ``(losses, aux)``.

        Each loss is divided by the number of replicas (a distribution strategy sums the replicas'
        gradients) and scaled by its optimizer under ``mixed_float16``. Entries with the same loss and
        no loss scaling share one backward pass.
        """
        check_precision(self, [optimizer for _, optimizer, _ in plan])
        replicas = backend.replicas()
        keys, optimizer_of, wrt_of = [], {}, {}
        for loss_name, optimizer, variables in plan:
            key = (loss_name, id(optimizer) if scales_loss(optimizer) else None)
            if key not in wrt_of:
                keys.append(key)
                optimizer_of[key], wrt_of[key] = optimizer, []
            wrt_of[key].extend(variables)

        def scaled():
            losses, aux = forward()
            out = []
            for loss_name, scaling in keys:
                loss = losses[loss_name] / replicas
                out.append(optimizer_of[(loss_name, scaling)].scale_loss(loss) if scaling else loss)
            return out, (losses, aux)

        _, (losses, aux), grads = backend.value_and_grads(scaled, [(i, wrt_of[key]) for i, key in enumerate(keys)])
        taken = {key: 0 for key in keys}
        for loss_name, optimizer, variables in plan:
            key = (loss_name, id(optimizer) if scales_loss(optimizer) else None)
            k, start = keys.index(key), taken[key]
            backend.apply(optimizer, grads[k][start: start + len(variables)], variables)
            taken[key] += len(variables)
        return losses, aux

    def track(self, values: dict) -> dict:
        """Update the model's ``keras.metrics.Mean`` trackers with ``values`` (by name); the logs."""
        for tracker in self.metrics:
            tracker.update_state(values[tracker.name])
        logs = {tracker.name: tracker.result() for tracker in self.metrics}
        if backend.multi_worker():  # Keras averages each worker's logs along axis 0: give them one
            logs = {name: keras.ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs


# --------------------------------------------------------------------------- using a trained network


def build_optimizer(model: keras.Model) -> None:
    """Make the variables of ``model``'s compiled optimizer now (in the model's distribution scope),
    before ``fit`` traces the train step. Made inside the first trace instead, they make TensorFlow
    trace the whole step a second time (its rule for variables created in a ``tf.function``)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or optimizer.built:
        return
    strategy = getattr(model, "distribute_strategy", None)  # TensorFlow's trainer; JAX and PyTorch have none
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        optimizer.build(model.trainable_variables)


def apply_in_batches(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """``model(x, training=False)`` batch by batch, as NumPy.

    Plain calls rather than ``model.predict``: no function is traced per model and batch
    shape, which for the few thousand images the course scores is faster and quieter.
    """
    if len(x) == 0:
        raise ValueError("no images to run the model on (the array is empty)")
    return np.concatenate([keras.ops.convert_to_numpy(model(x[i: i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds one image costs in the model's convolutions and dense layers (the bulk of the
    arithmetic; normalisation and activations are not counted). Taught in 04_cyclegan, The networks."""
    total = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2DTranspose):
            _, h, w, c_in = layer.input.shape
            kh, kw = layer.kernel_size
            total += h * w * c_in * kh * kw * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * c_out * kh * kw * layer.input.shape[-1] // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.input.shape[1:])) * layer.units
    return int(total)


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Full batches in ``n_images`` (GAN steps drop the last partial batch)."""
    return max(1, n_images // batch_size)


def scales_loss(optimizer) -> bool:
    """True when ``optimizer`` multiplies the loss before the backward pass (mixed_float16)."""
    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
