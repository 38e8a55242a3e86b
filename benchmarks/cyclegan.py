"""Speed of the CycleGAN train step, and label preservation of a finished run.

    python benchmarks/cyclegan.py [--batch-size 32] [--generator unet|resnet|both]
    python benchmarks/cyclegan.py --run runs/cyclegan-mnist_m

The first form times the lesson-04 train step (G, F, D_A and D_B each updated once per
pair of batches) on random 28x28x3 data after a warm-up, with `tf.function` and with
`jit_compile` (XLA), and prints image pairs per second and the seconds an epoch of the
shared MNIST subset (7,131 pairs) would take. The second prints the translation figures
from a run's metrics.json (written by `python -m course train cyclegan`).
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from course import config
from course.models import cyclegan as cg

SHARED_SUBSET_PAIRS = 7131  # half of the 14,262 shared MNIST training images per domain


def pairs_per_second(generator: str, jit: bool, batch_size: int, steps: int) -> tuple[float, int]:
    model = cg.make_cyclegan(generator=generator, seed=0, jit_compile=jit)
    rng = np.random.default_rng(0)
    batch = tuple(tf.constant(rng.uniform(-1, 1, (batch_size, 28, 28, 3)).astype("float32")) for _ in "ab")
    pairs = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(pairs, steps_per_epoch=3, epochs=1, verbose=0)  # warm-up: tracing and compilation
    start = time.perf_counter()
    model.fit(pairs, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch_size / (time.perf_counter() - start), model.g.count_params()


def report_run(run: Path) -> None:
    m = json.loads((run / "metrics.json").read_text())
    lp = m["label_preservation_accuracy"]
    print(f"{run}: {m['epochs']} epochs, {m['train_seconds'] / 60:.1f} min training, {m['seconds_per_epoch']} s/epoch")
    val = m.get("validation_label_preservation_accuracy", {})
    print(f"  validation ({m.get('validation_examples')} training digits held out): B->A {val.get('b_to_a')}, "
          f"A->B {val.get('a_to_b')}, mean {val.get('mean')}")
    print(f"  test ({m['test_examples']} digits): B->A label preservation {lp['b_to_a']:.4f} (untranslated baseline "
          f"{m['baseline_untranslated_accuracy']:.4f})")
    print(f"  A->B label preservation {lp['a_to_b']:.4f} (untranslated baseline "
          f"{m.get('baseline_untranslated_accuracy_a_to_b', float('nan')):.4f}); mean {lp['mean']:.4f}")
    print(f"  cycle L1 {m['cycle_l1']:.4f}; validation B->A by epoch: {m.get('val_b_to_a_accuracy_by_epoch')}")
    print(f"  validation A->B by epoch: {m.get('val_a_to_b_accuracy_by_epoch')}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--generator", choices=("unet", "resnet", "both"), default="both")
    p.add_argument("--run", type=Path, help="print the figures of a finished run instead")
    args = p.parse_args()
    if args.run:
        report_run(args.run)
        return
    print(f"CycleGAN train step, 28x28x3, batch {args.batch_size}, devices: {config.gpus() or 'CPU only'}")
    for generator in (("unet", "resnet") if args.generator == "both" else (args.generator,)):
        for jit in (False, True):
            speed, params = pairs_per_second(generator, jit, args.batch_size, args.steps)
            print(f"{generator:>7} ({params:,} parameters per generator), {'jit_compile' if jit else 'tf.function':>11}: "
                  f"{speed:7.1f} pairs/s = {SHARED_SUBSET_PAIRS / speed:6.1f} s per epoch of the shared subset")


if __name__ == "__main__":
    main()
