"""Kill a training run at random moments, resume it each time, and compare it with a run never killed.

    python benchmarks/kill_resume.py [--kills 10] [--models cnn dcgan] [--epochs 12] [--seed 0]

For each model: one uninterrupted run, then the same command started, SIGKILLed after a
random delay (between half the start-up time and two epochs into training: mid-epoch,
mid-checkpoint, or before training begins),
and restarted with --resume, ``--kills`` times, before it is let finish. Prints, per model,
the epochs lost (epochs whose checkpoint the killed process had announced but the resumed
run did not find; the partial epoch in progress is not counted), and the largest difference
between the final weights and the uninterrupted run's. Needs MNIST (COURSE_DATA_DIR).
"""
import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

RECIPES = {  # small runs with several epochs: the kills land everywhere in the epoch
    "cnn": ["--dataset", "mnist", "--train-examples", "1200", "--batch-size", "64", "--augment", "none"],
    "dcgan": ["--dataset", "mnist", "--train-examples", "1024", "--batch-size", "64", "--samples", "200",
              "--jit-compile", "never"],
}
EPOCH_LINE = re.compile(r"^\d+/\d+ - ")  # Keras' one line per finished epoch (verbose=2), printed after the checkpoint


def train(model: str, out: Path, epochs: int, seed: int, resume: bool) -> subprocess.Popen:
    args = [sys.executable, "-u", "-m", "course", "train", model, *RECIPES[model], "--epochs", str(epochs),
            "--seed", str(seed), "--out", str(out)] + (["--resume"] if resume else [])
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def checkpointed(out: Path) -> int:
    state = out / "checkpoints" / "state.json"
    return json.loads(state.read_text())["epoch"] if state.is_file() else 0


def final_weights(out: Path, epochs: int) -> dict:
    with h5py.File(out / "checkpoints" / f"epoch-{epochs:04d}.weights.h5", "r") as f:
        found = {}
        f.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return found


def one_model(model: str, kills: int, epochs: int, seed: int, root: Path, rng: random.Random) -> dict:
    start = time.perf_counter()
    reference = train(model, root / f"{model}-reference", epochs, seed, resume=False)
    epoch_ends, output = [], []
    for line in reference.stdout:  # when each epoch ends, to aim the kills at the training
        output.append(line)
        if EPOCH_LINE.match(line):
            epoch_ends.append(time.perf_counter() - start)
    if reference.wait():
        raise SystemExit(f"the uninterrupted {model} run failed:\n{''.join(output)[-3000:]}")
    full_time = time.perf_counter() - start
    epoch_time = (epoch_ends[-1] - epoch_ends[0]) / max(1, len(epoch_ends) - 1)
    startup = epoch_ends[0] - epoch_time  # process start, data, model, compilation
    out, lost, killed_at = root / f"{model}-killed", 0, []
    for k in range(kills):
        before = checkpointed(out)
        process = train(model, out, epochs, seed, resume=k > 0)
        # anywhere from the start-up to two epochs in: mid-epoch, mid-checkpoint, or before training
        delay = rng.uniform(0.5 * startup, startup + 2 * epoch_time)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        text = process.communicate()[0]
        announced = before + sum(1 for line in text.splitlines() if EPOCH_LINE.match(line))
        after = checkpointed(out)
        lost += max(0, announced - after)
        killed_at.append(f"{delay:.1f}s -> {after}")
    finish = train(model, out, epochs, seed, resume=kills > 0)
    text = finish.communicate()[0]
    if finish.returncode:
        raise SystemExit(f"the resumed {model} run failed:\n{text[-3000:]}")
    a, b = final_weights(root / f"{model}-reference", epochs), final_weights(out, epochs)
    assert a.keys() == b.keys(), "the two checkpoints hold different variables"
    largest = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) if a[k].size else 0.0 for k in a)
    return {"model": model, "kills": kills, "epochs_lost": lost, "max_weight_difference": largest,
            "bitwise_equal": all(np.array_equal(a[k], b[k]) for k in a), "uninterrupted_seconds": round(full_time, 1),
            "epoch_seconds": round(epoch_time, 1), "startup_seconds": round(startup, 1), "kills_at": killed_at}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--models", nargs="+", default=["cnn", "dcgan"], choices=sorted(RECIPES))
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("COURSE_CACHE_DIR", str(Path(tmp) / "cache"))
        for model in args.models:
            r = one_model(model, args.kills, args.epochs, args.seed, Path(tmp), rng)
            print(f"{r['model']:>6}: {r['kills']} kills, {r['epochs_lost']} epochs lost, final weights "
                  f"{'bitwise equal to' if r['bitwise_equal'] else 'differ from'} the uninterrupted run's "
                  f"(largest difference {r['max_weight_difference']:.3g}); uninterrupted run "
                  f"{r['uninterrupted_seconds']} s ({r['startup_seconds']} s start-up, {r['epoch_seconds']} s per epoch)")
            print(f"        kills (seconds after start -> epochs checkpointed): {', '.join(r['kills_at'])}")


if __name__ == "__main__":
    main()
