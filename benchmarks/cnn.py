"""Accuracy and speed of the lesson-01 classifier: `python benchmarks/cnn.py --dataset mnist --epochs 5`.

Trains through the same code path as `python -m course train cnn` into a fresh run folder and
prints one table row per dataset. Figures from the shared MNIST / CIFAR-10 subsets are lower
than on the complete datasets; the row says which data was used.
"""
import argparse
import os
import platform
import tempfile

from course.jobs import cnn


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", action="append", help="repeatable; default mnist")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, help="default: the job's for the dataset")
    p.add_argument("--fast", action="store_true")
    p.add_argument("--out", help="keep the run folders here (default: a temporary folder)")
    args = p.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{'dataset':<14} {'train imgs':>10} {'test imgs':>9} {'epochs':>6} {'test acc':>8} "
          f"{'test loss':>9} {'s/epoch':>8} {'img/s':>7}  source")
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.dataset or ["mnist"]:
            out = os.path.join(args.out or tmp, f"cnn-{dataset}")
            m = cnn.train(cnn.TrainConfig(dataset=dataset, epochs=args.epochs, batch_size=args.batch_size,
                                          fast=args.fast), out, verbose=0)
            print(f"{dataset:<14} {m['examples']:>10} {m['test_examples']:>9} {m['epochs']:>6} "
                  f"{m['test_accuracy']:>8.4f} {m['test_loss']:>9.4f} {m['seconds_per_epoch']:>8.1f} "
                  f"{m['images_per_second']:>7.0f}  {m['data_source']}")


if __name__ == "__main__":
    main()
