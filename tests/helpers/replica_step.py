"""One train step on two replicas against the same step on one device (run by tests/test_distribution.py).

    python tests/helpers/replica_step.py MODEL[:forget] [...] [noise]

Prints one JSON line: per model, how far the weights after one step on two replicas are from
those after one step on one device (``gap``), and how far that step moved them (``moved``).

The two-replica step gets the global batch ``[x, x]``: each replica sees ``x``, the batch the
one-device step sees. The random draws are replaced by noise that is the same for every example
and every replica, and the optimizers by plain SGD (an update proportional to the gradient, so a
gradient twice too large shows as a step twice too long). Then the two updates are equal exactly
when the replicas' gradients are combined as a mean: a step that forgets to divide its loss by
the number of replicas moves the weights twice as far (``MODEL:forget`` makes the course's step
do that, to show the comparison catches it). ``noise`` reports whether each replica draws its
own noise from one seed generator (``course.backend.normal``), as it should.

TensorFlow: ``MirroredStrategy`` over two logical CPUs. JAX: ``keras.distribution.DataParallel``
over two host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=2``).
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ["KERAS_BACKEND"] == "jax":
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from course import backend, data  # noqa: E402
from course.models import cnn, cyclegan, dcgan, vae  # noqa: E402

N = 8  # examples per replica
RATE = 0.05


def _row_noise(shape, dtype):
    """Deterministic values in [0, 1) that depend on the position within the batch modulo ``N`` and
    within the example: the global batch ``[x, x]`` gets the noise ``[z, z]``, each replica ``z``."""
    inner = tuple(int(s) for s in shape[1:])
    size = int(np.prod(inner)) if inner else 1
    rows = ops.cast(ops.mod(ops.arange(shape[0]), N), "float32")
    k = ops.expand_dims(rows, 1) * size + ops.expand_dims(ops.arange(size, dtype="float32"), 0) + 1.0
    values = ops.sin(k * 0.7311) * 97.0
    values = values - ops.floor(values)
    return ops.cast(ops.reshape(values, (shape[0], *inner)), dtype)


def _patch_noise():
    backend.normal = lambda shape, generator, dtype="float32": (_row_noise(shape, dtype) - 0.5) * 2.0
    backend.uniform = lambda shape, generator, dtype="float32": _row_noise(shape, dtype)


def _sgd():
    return keras.optimizers.SGD(RATE)


def build(name):
    """The model, compiled with SGD, and one batch (what fit gets per replica)."""
    digits, labels = data.synthetic_digits(N, seed=1)
    if name == "cnn":
        model = cnn.build_classifier((28, 28, 1), widths=(8, 16), convs=(1, 1), dropout=0.0)
        model.compile(optimizer=_sgd(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model, (digits.astype("float32") / 255.0, labels.astype("int32"))
    if name == "dcgan":
        model = dcgan.make_dcgan((28, 28, 1), seed=0)
        model.compile(d_optimizer=_sgd(), g_optimizer=_sgd())
        return model, (data.to_symmetric(digits),)
    if name == "vae":
        model = vae.make_vae((28, 28, 1), latent_dim=4, seed=0)
        model.compile(optimizer=_sgd())
        return model, (digits.astype("float32") / 255.0,)
    if name == "cyclegan":
        model = cyclegan.make_cyclegan((28, 28, 3), width=8, d_width=8, pool_size=4 * N, seed=0)
        model.compile(*[_sgd() for _ in range(4)])
        a = data.to_symmetric(np.repeat(digits, 3, axis=-1))
        b = data.to_symmetric(255 - np.repeat(digits, 3, axis=-1))
        return model, ((a, b),)
    raise SystemExit(f"unknown model {name}")


def step(model, batch, replicas):
    """Weights after one ``fit`` step on the batch repeated once per replica."""
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            tiled = [np.concatenate([part] * replicas) if not isinstance(part, tuple)
                     else tuple(np.concatenate([p] * replicas) for p in part) for part in batch]
            return tuple(tiled) if len(tiled) > 1 else tiled[0]

    model.fit(Batches(), epochs=1, verbose=0, shuffle=False)
    return [np.array(w) for w in model.get_weights()]


def replica_noise(replicated) -> dict:
    """Draws of ``course.backend.normal`` on each replica from one seed generator."""
    import tensorflow as tf

    def draw():
        generator = keras.random.SeedGenerator(3)
        strategy = tf.distribute.get_strategy()
        per_replica = strategy.run(tf.function(lambda: backend.normal((4,), generator)))
        values = [np.array(v) for v in strategy.experimental_local_results(per_replica)]
        return values, np.array(generator.state.value)
    values, state = replicated(draw)
    one = keras.random.SeedGenerator(3)
    backend.normal((4,), one)
    return {"differ": not np.allclose(values[0], values[1]), "finite": bool(np.all(np.isfinite(values))),
            "state_as_one_draw": bool(np.array_equal(state, np.array(one.state.value)))}


def main(names):
    replicas_of = backend.replicas
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

        def replicated(fn):
            with strategy.scope():
                return fn()
        replicas = strategy.num_replicas_in_sync
    else:
        import jax

        replicas = len(jax.devices())

        def replicated(fn):
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
            try:
                return fn()
            finally:
                keras.distribution.set_distribution(None)
    report = {"replicas": replicas}
    if "noise" in names:
        report["noise"] = replica_noise(replicated)
        names = [n for n in names if n != "noise"]
    _patch_noise()
    for key in names:
        name, forget = key.split(":")[0], key.endswith(":forget")
        backend.replicas = (lambda: 1) if forget else replicas_of
        keras.utils.set_random_seed(0)
        model, batch = build(name)
        start = [np.array(w) for w in model.get_weights()]
        single = step(model, batch, 1)

        def two():
            keras.utils.set_random_seed(0)
            m, b = build(name)
            m.set_weights(start)
            return step(m, b, replicas)
        double = replicated(two)
        trainable = [i for i, w in enumerate(model.weights) if w.trainable]  # not the pools' contents
        gap = max(float(np.max(np.abs(single[i] - double[i]))) for i in trainable)
        moved = max(float(np.max(np.abs(single[i] - start[i]))) for i in trainable)
        report[key] = {"gap": gap, "moved": moved}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
