"""Compare CycleGAN recipes on validation digits, the way lesson 04's default was chosen.

    python -m course benchmark cyclegan_recipes [--epochs 6] [--out runs/recipes]

Each candidate starts the full 24-epoch run (`python -m course train cyclegan ...`), whose
learning rate is constant for the first 12 epochs, and is stopped once ``--epochs`` epochs
are checkpointed; the table shows label preservation on the 1,000 held-out *training*
digits after each epoch (B->A with the MNIST classifier, A->B with the MNIST-M one). The
test digits are not looked at. A stopped candidate can be finished with the same command
and ``--resume``: that is how the default run is produced.
"""
import argparse
import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

CANDIDATES = {  # name: flags (the rest are the job's defaults)
    "unet-lr5e-4-cyc10,1-id5": ["--generator", "unet", "--learning-rate", "5e-4", "--cycle-weight-b", "1"],
    "unet-lr2e-4-cyc10,1-id5": ["--generator", "unet", "--learning-rate", "2e-4", "--cycle-weight-b", "1"],
    "unet-lr5e-4-cyc10,10-id5": ["--generator", "unet", "--learning-rate", "5e-4", "--cycle-weight-b", "10"],
    "unet-lr5e-4-cyc10,1-id0": ["--generator", "unet", "--learning-rate", "5e-4", "--cycle-weight-b", "1",
                                "--identity-weight", "0"],
    "resnet-lr5e-4-cyc10,1-id5": ["--generator", "resnet", "--learning-rate", "5e-4", "--cycle-weight-b", "1"],
}


def history(run: Path) -> list[dict]:
    path = run / "history.csv"
    return list(csv.DictReader(path.open())) if path.is_file() else []


def train_until(flags: list[str], run: Path, epochs: int) -> float:
    """Start (or resume) the candidate's 24-epoch run and stop it after ``epochs`` checkpointed epochs."""
    if len(history(run)) >= epochs:
        return 0.0
    resume = ["--resume"] if (run / "checkpoints").is_dir() else []
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "course", "train", "cyclegan", "--dataset", "mnist_m", *flags,
                                "--out", str(run), *resume], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    while process.poll() is None and len(history(run)) < epochs:
        time.sleep(5)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # stopped like a kill: the last checkpoint is on disk, --resume goes on
        process.wait()
    return time.perf_counter() - start


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--out", default="runs/recipes")
    p.add_argument("--only", nargs="*", choices=sorted(CANDIDATES))
    args = p.parse_args(argv)
    rows = []
    for name in args.only or CANDIDATES:
        run = Path(args.out) / name
        seconds = train_until(CANDIDATES[name], run, args.epochs)
        rows.append((name, history(run)[: args.epochs], seconds))
        print(f"{name}: {args.epochs} epochs in {seconds / 60:.1f} min", flush=True)
    print(f"\nvalidation label preservation after each epoch (B->A / A->B), first {args.epochs} epochs of 24:")
    for name, epochs, _ in rows:
        b_to_a = " ".join(f"{float(e['val_b_to_a_accuracy']):.3f}" for e in epochs)
        a_to_b = " ".join(f"{float(e['val_a_to_b_accuracy']):.3f}" for e in epochs)
        print(f"{name:>28}  B->A {b_to_a}\n{'':>28}  A->B {a_to_b}")
    best = max(rows, key=lambda r: (float(r[1][-1]["val_b_to_a_accuracy"]) + float(r[1][-1]["val_a_to_b_accuracy"])))
    print(f"\nbest mean validation label preservation after {args.epochs} epochs: {best[0]}")


if __name__ == "__main__":
    main()
