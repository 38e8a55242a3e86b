"""The few things that differ between Keras' backends (TensorFlow, JAX, PyTorch), in one place.

Everything else in the course is written once with ``keras.ops`` and ``keras.random``.
The only backend-specific code of the train steps is here, in three small functions that every
model's step shares (taught in 02_dcgan, One step, three backends):

* :func:`value_and_grads` -- run a forward pass and take gradients of its losses with respect to
  lists of variables (TensorFlow: ``GradientTape``; JAX: ``jax.vjp`` over the variables' values;
  PyTorch: ``torch.autograd.grad``);
* :func:`apply` -- an optimizer applies gradients to its variables (JAX: ``stateless_apply``);
* :func:`stateless_step` -- on JAX, ``fit`` hands a train step every piece of state as values and
  wants new values back; this runs an ordinary, stateful step inside a ``keras.StatelessScope``
  holding those values and collects what it assigned.

Each backend's own library is imported only when that backend is in use, so the course imports
without TensorFlow.
"""
from __future__ import annotations

from contextlib import contextmanager

import keras
from keras import ops


def name() -> str:
    """``"tensorflow"``, ``"jax"`` or ``"torch"``."""
    return keras.backend.backend()


def version() -> str:
    """The version of the backend's own library (TensorFlow, JAX or PyTorch)."""
    import importlib

    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(name())
    return getattr(importlib.import_module(module), "__version__", "?") if module else "?"


#: The choices of the jobs' ``--jit-compile``: XLA on a GPU only (the default), on any device, never.
XLA_CHOICES = ("gpu", "always", "never")


def xla_choice(xla) -> str:
    """``xla`` as one of :data:`XLA_CHOICES`; True and False (what runs recorded before the setting was a
    choice, and what Python callers may still pass) mean ``"gpu"`` and ``"never"``."""
    choice = {True: "gpu", False: "never"}.get(xla, xla) if isinstance(xla, bool) else xla
    if choice not in XLA_CHOICES:
        raise ValueError(f"jit_compile must be one of {', '.join(XLA_CHOICES)} (or True for 'gpu', False for "
                         f"'never'), got {xla!r}")
    return choice


def jit_compile(xla: bool | str = "gpu"):
    """What to pass to ``compile(jit_compile=...)`` for the setting ``xla`` (:func:`xla_choice`): on
    TensorFlow, XLA where a GPU is visible (``"gpu"``), on any device (``"always"``) or not at all
    (``"never"``). Whether XLA pays on a CPU depends on the machine: ``python -m course benchmark
    epoch_speed --xla`` times it; the results registry has ``throughput.tf_cpu`` (the step alone,
    slower with XLA) and ``speed.xla_cpu`` (whole DCGAN epochs on another CPU, faster with it). On JAX
    the step is always compiled (``jax.jit``); on PyTorch it runs eagerly (``torch.compile`` is not used)."""
    choice = xla_choice(xla)
    if name() == "tensorflow":
        import tensorflow as tf

        return choice == "always" or (choice == "gpu" and bool(tf.config.list_physical_devices("GPU")))
    return name() == "jax"


def replicas() -> int:
    """How many copies of the train step run at once on TensorFlow's distribution strategy (1 elsewhere).

    A TensorFlow step under ``MirroredStrategy`` sees 1/N of the global batch and its
    gradients are summed over the N replicas, so its loss is divided by N. JAX's
    ``keras.distribution`` compiles one step over the global batch instead: no division.
    """
    if name() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def multi_worker() -> bool:
    """True inside a TensorFlow ``MultiWorkerMirroredStrategy`` that spans several machines."""
    if name() != "tensorflow":
        return False
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())


def _replica_id():
    """This TensorFlow replica's number when several replicas run the step, else None."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context.replica_id_in_sync_group


def _replica_seed(generator: keras.random.SeedGenerator, replica):
    """The generator's next seed folded with the replica's number: each replica draws its own noise,
    while the generator's state (the same on all replicas) moves on as on one device."""
    import tensorflow as tf

    return tf.random.experimental.stateless_fold_in(tf.cast(generator.next(), tf.int64), replica)


def normal(shape, generator: keras.random.SeedGenerator, dtype="float32"):
    """``keras.random.normal(shape, seed=generator)``, different on each TensorFlow replica."""
    if name() == "tensorflow" and (replica := _replica_id()) is not None:
        import tensorflow as tf

        return tf.random.stateless_normal(shape, seed=_replica_seed(generator, replica), dtype=dtype)
    return keras.random.normal(shape, dtype=dtype, seed=generator)


def uniform(shape, generator: keras.random.SeedGenerator, dtype="float32"):
    """``keras.random.uniform(shape, seed=generator)`` in [0, 1), different on each TensorFlow replica."""
    if name() == "tensorflow" and (replica := _replica_id()) is not None:
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, seed=_replica_seed(generator, replica), dtype=dtype)
    return keras.random.uniform(shape, dtype=dtype, seed=generator)


def value_and_grad(fn, variables: list):
    """``(fn(), gradients of fn() with respect to variables)``, eagerly, on any backend.

    For measurements (a gradient norm, a check of an exercise) and lesson 00's plain gradient descent;
    the train steps use their backend's own idiom. ``fn`` takes no argument and reads the
    variables as a Keras layer does. On JAX, updates ``fn`` makes to other state (BatchNorm
    statistics, seed generators) are discarded.
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch([v.value for v in variables])
            value = fn()
        return value, tape.gradient(value, [v.value for v in variables])
    if backend == "jax":
        import jax

        def pure(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn()

        return jax.value_and_grad(pure)([v.value for v in variables])
    if backend == "torch":
        for v in variables:
            v.value.grad = None
        value = fn()
        value.backward()
        return value.detach(), [v.value.grad for v in variables]
    raise NotImplementedError(f"the course does not support the {backend} backend")


# --------------------------------------------------------------------------- the train-step adapter

#: The variables of the JAX train step in progress (:func:`stateless_step`), innermost last.
_JAX_STEP_STATE: list[list] = []


def value_and_grads(forward, wrt: list):
    """Run ``forward()`` once and differentiate its losses: ``(losses, aux, grads)``.

    ``forward()`` returns ``(losses, aux)``: a list of scalar losses and anything else the step wants
    back (logits, images). ``wrt`` is a list of ``(i, variables)``: the gradient of ``losses[i]`` with
    respect to ``variables``; ``grads`` has one list per entry, in order. Every other update the
    forward pass makes (BatchNorm statistics, seed generators, image pools) is kept, as in an
    ordinary call. One forward pass serves every entry (TensorFlow: one persistent tape; JAX: one
    ``jax.vjp``; PyTorch: one graph, kept until the last backward pass).
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape(persistent=len(wrt) > 1) as tape:
            losses, aux = forward()
        grads = [list(tape.gradient(losses[i], list(variables))) for i, variables in wrt]
        del tape
        return losses, aux, grads
    if backend == "jax":
        return _jax_value_and_grads(forward, wrt)
    if backend == "torch":
        import torch

        losses, aux = forward()
        grads = []
        for k, (i, variables) in enumerate(wrt):
            tensors = [v.value for v in variables]
            found = torch.autograd.grad(losses[i], tensors, retain_graph=k < len(wrt) - 1, allow_unused=True)
            grads.append([torch.zeros_like(t) if g is None else g for g, t in zip(found, tensors)])
        return losses, aux, grads
    raise NotImplementedError(f"the course does not support the {backend} backend")


def _jax_value_and_grads(forward, wrt: list):
    """JAX: the forward pass as a pure function of the differentiated variables' values, under a
    ``StatelessScope`` that also holds the rest of the step's state (read, and updated through ``aux``)."""
    import jax

    union, position = [], {}
    for _, variables in wrt:
        for v in variables:
            if id(v) not in position:
                position[id(v)] = len(union)
                union.append(v)
    others = [v for v in (_JAX_STEP_STATE[-1] if _JAX_STEP_STATE else []) if id(v) not in position]
    other_values = [v.value for v in others]  # the step's current values (the enclosing scope's)

    def pure(values):
        mapping = list(zip(union, values)) + list(zip(others, other_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            losses, aux = forward()
        updated = [_current(scope, v, old) for v, old in zip(others, other_values)]
        return list(losses), (aux, updated)

    losses, backward, (aux, updated) = jax.vjp(pure, [v.value for v in union], has_aux=True)
    for v, value in zip(others, updated):
        v.assign(value)
    grads = []
    for i, variables in wrt:
        cotangent = [ops.ones_like(x) if j == i else ops.zeros_like(x) for j, x in enumerate(losses)]
        found = backward(cotangent)[0]
        grads.append([found[position[id(v)]] for v in variables])
    return losses, aux, grads


def _current(scope, variable, old):
    new = scope.get_current_value(variable)
    return old if new is None else new


def apply(optimizer, grads: list, variables: list) -> None:
    """``optimizer`` applies ``grads`` to ``variables`` (the list it was built for), on any backend."""
    backend = name()
    if backend == "jax" and _JAX_STEP_STATE:
        slots = optimizer.variables
        weights, slot_values = optimizer.stateless_apply([v.value for v in slots], grads, [v.value for v in variables])
        for v, value in zip(list(variables) + list(slots), list(weights) + list(slot_values)):
            v.assign(value)
    elif backend == "torch":
        import torch

        with torch.no_grad():
            optimizer.apply(grads, variables)
    else:
        optimizer.apply(grads, variables)


def stateless_step(model, step, state, data):
    """JAX: ``model``'s ordinary, stateful ``step(data)`` as the pure function ``fit`` compiles.

    ``fit`` passes ``state = (trainable, non_trainable, optimizer, metrics)`` values; the step runs in a
    ``keras.StatelessScope`` that maps every variable to its value, so what the step assigns
    (weights, optimizer slots, seed generators, trackers) is collected there and returned as the
    new state. What ``stateless_call`` does for one network's ``call``, for a whole step.
    """
    groups = [model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
              model.metrics_variables]
    variables = [v for group in groups for v in group]
    values = [value for group in state for value in group]
    if len(values) != len(variables):
        raise ValueError(f"the train step got {len(values)} state values for {len(variables)} variables")
    _JAX_STEP_STATE.append(variables)
    try:
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
            logs = step(data)
    finally:
        _JAX_STEP_STATE.pop()
    new, out, start = [_current(scope, v, old) for v, old in zip(variables, values)], [], 0
    for group in groups:
        out.append(new[start: start + len(group)])
        start += len(group)
    return logs, tuple(out)


def run_step(model, step, data):
    """Run ``step(data)`` -- a train step of ``model`` -- once, outside ``fit``, on any backend; returns its
    logs. On JAX it goes through :func:`stateless_step`, as in ``fit``, and the new values are assigned
    back. (Self-checks use it to compare a learner's step with the course's.)"""
    if name() != "jax":
        return step(data)
    groups = [model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
              model.metrics_variables]
    logs, new = stateless_step(model, step, tuple([v.value for v in group] for group in groups), data)
    for group, values in zip(groups, new):
        for v, value in zip(group, values):
            v.assign(value)
    return logs


def compiled(fn):
    """``fn`` compiled for repeated calls on arrays of one shape: ``tf.function`` on TensorFlow,
    ``jax.jit`` on JAX (the weights it reads are taken as constants: for measuring a trained
    model, not for training), and on PyTorch run without building a gradient graph."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "torch":
        import torch

        def no_grad(*args):
            with torch.no_grad():
                return fn(*args)

        return no_grad
    return fn


@contextmanager
def preserved(variables: list):
    """Put ``variables`` back to their present values after the block (a measurement that runs
    layers in training mode must not move BatchNorm's statistics)."""
    saved = [ops.convert_to_numpy(v.value) for v in variables]
    try:
        yield
    finally:
        for v, value in zip(variables, saved):
            v.assign(value)


def global_norm(grads) -> float:
    """The Euclidean norm of all gradients together (missing ones count as zero)."""
    return float(ops.convert_to_numpy(ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads if g is not None))))
