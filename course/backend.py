"""The few things that differ between Keras' backends (TensorFlow, JAX, PyTorch), in one place.

Everything else in the course is written once with ``keras.ops`` and ``keras.random``.
The train steps themselves are written per backend in the model classes (lessons 02-04
show them side by side); this module holds the small helpers they and the measurements
share. Each backend's own library is imported only when that backend is in use, so the
course imports without TensorFlow.
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


def jit_compile(xla: bool = True):
    """What to pass to ``compile(jit_compile=...)``: on TensorFlow, XLA when asked and a GPU is visible
    (on the idle 2-core CPU TensorFlow's own kernels were faster: DCGAN 684 against 406 images/s,
    CycleGAN 204 against 62 image pairs/s, benchmarks/throughput.py); on JAX the step is always compiled
    (``jax.jit``); on PyTorch it runs eagerly (``torch.compile`` is not used)."""
    if name() == "tensorflow":
        import tensorflow as tf

        return bool(xla) and bool(tf.config.list_physical_devices("GPU"))
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
