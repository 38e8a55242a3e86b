"""Do the TensorFlow, JAX and PyTorch train steps compute the same updates?

    python -m course benchmark backends_agree --python tensorflow=.venv/bin/python jax=.venv-jax/bin/python \
        torch=.venv-torch/bin/python [--steps 3]

Each model (DCGAN, VAE, CycleGAN, CNN) is built once, its initial weights saved; then each
backend (in its own interpreter, since Keras picks its backend once per process) loads those
weights, replaces every random draw by fixed numbers, trains ``--steps`` steps on the same
batches, and saves its weights. The script prints, per model, the largest difference of any
weight between each backend and the first one. Each model's step is one function on every backend;
what differs is how each backend takes and applies gradients (``course.backend``), so agreement to
float32 rounding says those few lines compute the same thing.
The models train with plain SGD here, so that each update is proportional to its gradient.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MODELS = ("dcgan", "vae", "cyclegan", "cnn")


def child(model: str, steps: int, init: str, out: str) -> None:
    """In one backend's process: fixed randomness, load the initial weights, train, save."""
    import keras

    from course import backend

    ops = keras.ops

    def fixed(kind):  # numbers that depend only on their position (shapes may be symbolic on TensorFlow)
        def draw(shape, generator, dtype="float32"):
            static = all(isinstance(d, int) for d in shape)
            size = int(np.prod(shape)) if static else ops.prod(ops.convert_to_tensor(shape))
            index = ops.cast(ops.reshape(ops.arange(size), shape), "int32")
            # integer arithmetic, exact on every backend, then one conversion to float
            fraction = ops.cast(ops.mod(index * 40503, 65536), dtype) / 65536.0
            return 3.0 * fraction - 1.5 if kind == "normal" else fraction
        return draw

    backend.normal, backend.uniform = fixed("normal"), fixed("uniform")  # every draw of the course's models
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if model == "dcgan":
        from course.models import dcgan
        m = dcgan.make_dcgan((28, 28, 1), seed=0, learning_rate=1e-3)
        batches = [rng.uniform(-1, 1, (16, 28, 28, 1)).astype("float32") for _ in range(steps)]
    elif model == "vae":
        from course.models import vae
        m = vae.make_vae(latent_dim=4, seed=0)
        batches = [rng.uniform(0, 1, (16, 28, 28, 1)).astype("float32") for _ in range(steps)]
    elif model == "cyclegan":
        from course.models import cyclegan
        m = cyclegan.make_cyclegan(width=4, residual_blocks=1, d_width=8, steps_per_epoch=steps, epochs=2, pool_size=8,
                                   seed=0)
        batches = [tuple(rng.uniform(-1, 1, (4, 28, 28, 3)).astype("float32") for _ in "ab") for _ in range(steps)]
    else:
        from course.models import cnn
        m = cnn.compile_classifier(cnn.build_classifier(dropout=0.0), total_steps=steps)
        batches = [(rng.uniform(0, 1, (16, 28, 28, 1)).astype("float32"), rng.integers(0, 10, 16)) for _ in range(steps)]
    # plain SGD: an update proportional to the gradient, so the comparison sees the gradients themselves
    # (Adam's first steps move every weight by about +-lr whatever its gradient's size, so rounding noise
    # in a near-zero gradient becomes a difference of 2 * lr)
    # (the VAE's loss is a sum over 784 pixels: a smaller rate keeps its steps from diverging, where any
    # rounding difference would grow without bound)
    sgd = lambda: keras.optimizers.SGD(1e-4 if model == "vae" else 0.05)  # noqa: E731
    if model == "dcgan":
        m.compile(sgd(), sgd())
    elif model == "cyclegan":
        m.compile(sgd(), sgd(), sgd(), sgd())
    elif model == "vae":
        m.compile(optimizer=sgd())
    else:
        m.compile(optimizer=sgd(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    if init:
        m.set_weights(list(np.load(init).values()))
    else:  # the first backend writes the initial weights for the others
        np.savez(out.replace(".npz", ".init.npz"), *m.get_weights())

    class Batches(keras.utils.PyDataset):  # the same batches, in the same order, on every backend
        def __len__(self):
            return len(batches)

        def __getitem__(self, i):
            return batches[i]

    m.fit(Batches(), epochs=1, verbose=0, shuffle=False)
    np.savez(out, *m.get_weights())


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "--child":
        a = json.loads(argv[1])
        return child(a["model"], a["steps"], a["init"], a["out"])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--python", nargs="+", required=True, help="BACKEND=INTERPRETER, the first one is the reference")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = p.parse_args(argv)
    interpreters = [entry.split("=", 1) for entry in args.python]
    root = str(Path(__file__).resolve().parents[2])  # the folder holding the course package
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            results = {}
            init = ""
            for backend_name, python in interpreters:
                out = os.path.join(tmp, f"{model}-{backend_name}.npz")
                env = {**os.environ, "KERAS_BACKEND": backend_name, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "3"}
                spec = json.dumps({"model": model, "steps": args.steps, "init": init, "out": out})
                run = subprocess.run([python, "-m", "course.benchmarks.backends_agree", "--child", spec], env=env, capture_output=True, text=True)
                if run.returncode:
                    raise SystemExit(f"{model} on {backend_name} failed:\n{run.stderr[-3000:]}")
                if not init:
                    init = out.replace(".npz", ".init.npz")
                with np.load(out) as f:
                    results[backend_name] = [f[k] for k in f.files]
            reference = interpreters[0][0]
            start = [np.load(init)[k] for k in np.load(init).files]
            moved = max(float(np.max(np.abs(a - b))) for a, b in zip(results[reference], start)
                        if a.size and a.dtype.kind == "f")  # (not the image pool's fill count)
            for backend_name, weights in results.items():
                if backend_name == reference:
                    continue
                diff = max(float(np.max(np.abs(a - b))) for a, b in zip(results[reference], weights) if a.size)
                print(f"{model:>9}: {backend_name} vs {reference} after {args.steps} steps: largest weight "
                      f"difference {diff:.2e} (the steps moved weights by up to {moved:.2e})")


if __name__ == "__main__":
    main()
