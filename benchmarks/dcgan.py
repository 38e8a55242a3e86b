"""Images per second of the DCGAN train step: `python benchmarks/dcgan.py [--batch-size 256]`.

Times the lesson-02 MNIST model's train step (one D update + one G update per batch) on
random data of MNIST's shape, after a warm-up, in four modes: eager, `tf.function`
(Keras' default), `jit_compile` (XLA), and mixed precision where a GPU supports it.
"""
import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from course import config
from course.models import dcgan


def images_per_second(mode: str, batch_size: int, steps: int) -> float:
    keras.mixed_precision.set_global_policy("mixed_float16" if mode == "mixed_float16" else "float32")
    gan = dcgan.make_dcgan((28, 28, 1), seed=0)
    gan.compile(gan.d_optimizer, gan.g_optimizer, run_eagerly=mode == "eager", jit_compile=mode == "jit_compile")
    real = tf.data.Dataset.from_tensors(
        tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch_size, 28, 28, 1)).astype("float32"))).repeat()
    gan.fit(real, steps_per_epoch=3, epochs=1, verbose=0)  # warm-up: tracing and compilation
    start = time.perf_counter()
    gan.fit(real, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    modes = ["eager", "tf.function", "jit_compile"]
    if config.gpus():
        modes.append("mixed_float16")
    print(f"DCGAN train step, MNIST model, batch {args.batch_size}, devices: {config.gpus() or 'CPU only'}")
    for mode in modes:
        print(f"{mode:>14}: {images_per_second(mode, args.batch_size, args.steps):8.0f} images/s")
    if not config.gpus():
        print("mixed_float16: skipped (no GPU; float16 is slower than float32 on a CPU)")


if __name__ == "__main__":
    main()
