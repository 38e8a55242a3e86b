"""What the model families share: several optimizers seen by ``fit`` as one, the bookkeeping of
JAX's explicit state, and batched calls.

Taught in passing in 02_dcgan (the JAX and PyTorch train steps) and used by 03 and 04.
"""
from __future__ import annotations

import keras
import numpy as np


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


# --------------------------------------------------------------------------- JAX: explicit state


class StateIndex:
    """Where each network's variables sit in the model's flat state lists (JAX train steps).

    ``fit`` on JAX hands a train step the values of ``model.trainable_variables`` and of
    ``model.non_trainable_variables`` as two flat lists. ``take`` picks one network's values
    out of such a list; ``put`` writes new values for them back.
    """

    def __init__(self, model_variables: list):
        self.position = {id(v): i for i, v in enumerate(model_variables)}

    def take(self, values: list, variables: list) -> list:
        return [values[self.position[id(v)]] for v in variables]

    def put(self, values: list, variables: list, new: list) -> list:
        values = list(values)
        for v, value in zip(variables, new):
            values[self.position[id(v)]] = value
        return values


def stateless_scaled_loss(optimizer, optimizer_values: list, loss):
    """``optimizer.scale_loss(loss)`` reading the loss scale from ``optimizer_values`` (JAX)."""
    with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, optimizer_values))):
        return optimizer.scale_loss(loss)


def stateless_draw(variables: list, values: list, draw):
    """Run ``draw()`` (which uses seed generators whose states are ``variables``) with the states
    ``values``; returns ``(result, new state values)`` (JAX)."""
    with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
        result = draw()
    return result, [_current(scope, v, old) for v, old in zip(variables, values)]


def stateless_track(model: keras.Model, metrics_values: list, values: dict) -> tuple[dict, list]:
    """Update the model's ``keras.metrics.Mean`` trackers with ``values`` statelessly (JAX);
    returns ``(logs, new metrics values)``."""
    with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metrics_values))) as scope:
        for tracker in model.metrics:
            tracker.update_state(values[tracker.name])
        logs = {tracker.name: tracker.result() for tracker in model.metrics}
    return logs, [_current(scope, v, old) for v, old in zip(model.metrics_variables, metrics_values)]


def _current(scope, variable, old):
    new = scope.get_current_value(variable)
    return old if new is None else new


# --------------------------------------------------------------------------- using a trained network


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


def stateless_run(model: keras.Model, fn, trainable: list, non_trainable: list):
    """Run ``fn()`` -- ordinary Keras code on ``model`` -- with the model's weights and other state taken
    from the values given (JAX); returns ``(result, new non-trainable values)``.

    What ``stateless_call`` does for a network's ``call``, for any method of the model.
    """
    mapping = list(zip(model.trainable_variables, trainable)) + list(zip(model.non_trainable_variables,
                                                                         non_trainable))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        result = fn()
    return result, [_current(scope, v, old) for v, old in zip(model.non_trainable_variables, non_trainable)]


def scales_loss(optimizer) -> bool:
    """True when ``optimizer`` multiplies the loss before the backward pass (mixed_float16)."""
    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
