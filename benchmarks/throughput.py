"""Train-step throughput of every model: images per second per precision and compile mode.

    python benchmarks/throughput.py [--backend tensorflow|jax|torch] [--models cnn dcgan vae cyclegan]
                                    [--precision float32 mixed_float16 mixed_bfloat16] [--steps 20]

Each model is the one its lesson trains at full settings (batch size, widths), fed a fixed
batch of random images of the dataset's shape (MNIST; CIFAR-10 for ``cnn_cifar10``) through ``fit`` (so the data pipeline is not timed),
after a warm-up that traces and compiles. Compile modes: TensorFlow ``graph`` (``tf.function``,
Keras' default on a CPU) and ``xla`` (``jit_compile``); JAX ``jit`` (always); PyTorch ``eager``.
For each, the seconds one epoch of the complete dataset takes at that rate (MNIST: 60,000
training images; CycleGAN: 60,000 image pairs), and the minutes of the lesson's full run
(epochs x dataset). The train step alone: a whole epoch (data pipeline, callbacks, checkpoint) runs
at another speed, measured higher or lower by up to 45% (``python -m course benchmark epoch_speed``
times whole epochs, and the lessons' CPU estimates use those).
"""
import argparse
import os
import sys
import time

MODELS = ("cnn", "cnn_cifar10", "dcgan", "vae", "cyclegan")
#: Full settings of each lesson's main run: (batch size, epochs, images per epoch, lesson). The CNN
#: trains on 90% of the training images (the rest validates); CycleGAN's two domains each get half
#: of the training digits less 1,000 held out, so an epoch is about 29,500 image pairs.
FULL = {"cnn": (128, 5, 54_000, "01_cnn_classifier"), "cnn_cifar10": (128, 30, 45_000, "01_cnn_classifier"),
        "dcgan": (64, 20, 60_000, "train dcgan"), "vae": (64, 30, 60_000, "03_vae"),
        "cyclegan": (32, 24, 29_500, "04_cyclegan")}


def build(name, batch_size):
    """The model and one batch of the shape its ``fit`` takes."""
    import numpy as np

    from course.models import cnn, cyclegan, dcgan, vae

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (batch_size, 28, 28, 1)).astype("float32")
    if name == "cnn_cifar10":
        model = cnn.compile_classifier(cnn.classifier_for("cifar10"), total_steps=10_000)
        colour = rng.uniform(0, 1, (batch_size, 32, 32, 3)).astype("float32")
        return model, (colour, rng.integers(0, 10, batch_size).astype("int32"))
    if name == "cnn":
        model = cnn.compile_classifier(cnn.classifier_for("mnist", augment="none"), total_steps=10_000)  # as recorded
        return model, (images, rng.integers(0, 10, batch_size).astype("int32"))
    if name == "dcgan":
        return dcgan.make_dcgan((28, 28, 1), seed=0), images * 2 - 1
    if name == "vae":
        return vae.make_vae((28, 28, 1), latent_dim=32, seed=0), images
    colour = np.repeat(images, 3, axis=-1) * 2 - 1
    return cyclegan.make_cyclegan((28, 28, 3), seed=0), (colour, colour[::-1].copy())


def images_per_second(name, precision, mode, steps) -> float:
    import keras

    from course import devices

    batch_size = FULL[name][0]

    class Same(keras.utils.PyDataset):
        def __init__(self, batch, length):
            super().__init__()
            self.batch, self.length = batch, length

        def __len__(self):
            return self.length

        def __getitem__(self, i):
            return self.batch

    with devices.training_setup(precision):
        model, batch = build(name, batch_size)
        model.jit_compile = mode in ("xla", "jit")
        model.fit(Same(batch, 3), epochs=1, verbose=0)  # warm-up: tracing and compilation
        start = time.perf_counter()
        model.fit(Same(batch, steps), epochs=1, verbose=0)
        return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["tensorflow", "jax", "torch"], default=os.environ.get("KERAS_BACKEND"))
    p.add_argument("--models", nargs="*", choices=MODELS, default=list(MODELS))
    p.add_argument("--precision", nargs="*", default=None,
                   help="dtype policies to time (default: float32, plus the GPU's mixed policy where there is one)")
    p.add_argument("--modes", nargs="*", default=None, help="compile modes (default: all the backend has)")
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from course import backend, devices

    name = backend.name()
    modes = args.modes or {"tensorflow": ["graph", "xla"], "jax": ["jit"], "torch": ["eager"]}[name]
    precisions = args.precision or sorted({"float32", devices.resolve_precision("auto")})
    print(f"Keras {keras.__version__} on {name} {backend.version()} | device: "
          f"{', '.join(devices.gpus()) or 'CPU'} | {os.cpu_count()} CPU cores | {args.steps} timed steps")
    print(f"{'model':>9} {'batch':>5} {'precision':>15} {'mode':>6} {'images/s':>9} {'s/epoch':>8} {'full run':>9}")
    for model in args.models:
        batch, epochs, per_epoch, lesson = FULL[model]
        for precision in precisions:
            for mode in modes:
                rate = images_per_second(model, precision, mode, args.steps)
                print(f"{model:>9} {batch:>5} {precision:>15} {mode:>6} {rate:9.0f} {per_epoch / rate:8.0f} "
                      f"{epochs * per_epoch / rate / 60:7.0f} min  ({lesson}: {epochs} epochs)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
