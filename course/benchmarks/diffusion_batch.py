"""Lesson 06's batch size: ``python -m course benchmark diffusion_batch --runs DIR [--recipes 64:0.001 16:0.001]
[--epochs 3] [--n 500]``.

For each recipe (batch size : Adam's learning rate) it trains the conditional model of ``python -m course
train diffusion --conditional`` for ``--epochs`` epochs into ``DIR/b{BATCH}-lr{RATE}`` with the train job's
own code, then scores ``--n`` DDIM samples (50 steps, eta 1) at guidance 1 against the *last* ``--n``
training images with ``python -m course benchmark diffusion --reference train`` (a recipe is chosen
without the test set). Every recipe sees the same images the same number of times, so the CPU time is
about the same and the number of optimizer steps is what differs. A finished run or score in ``DIR``
is reused (a killed benchmark goes on where it stopped); ``--fast`` is a smoke test on the small subset.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import emit, json_argument_parser
from . import diffusion as diffusion_benchmark

DEFAULT_RECIPES = ("64:0.001", "64:0.002", "32:0.001", "32:0.002", "16:0.001")


def parse_recipe(text: str) -> tuple[int, float]:
    """``"16:0.001"`` -> ``(16, 0.001)``, with a clear error for anything else."""
    try:
        batch, rate = text.split(":")
        batch_size, learning_rate = int(batch), float(rate)
    except ValueError:
        raise ValueError(f"a recipe is BATCH:LEARNING_RATE, for example 16:0.001; got {text!r}") from None
    if batch_size < 1 or learning_rate <= 0:
        raise ValueError(f"a recipe needs a positive batch size and learning rate; got {text!r}")
    return batch_size, learning_rate


def run_name(batch_size: int, learning_rate: float) -> str:
    return f"b{batch_size}-lr{learning_rate:g}"


def measure(runs: Path, batch_size: int, learning_rate: float, *, epochs: int, n: int, fast: bool,
            data_dir=None) -> dict:
    """Train (or reuse) one recipe's run and score it; one row of the table."""
    from .. import config
    from ..jobs import diffusion as diffusion_job

    out = runs / run_name(batch_size, learning_rate)
    if not (out / "metrics.json").exists():
        cfg = diffusion_job.TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                        conditional=True, samples=100, fast=fast)
        diffusion_job.train(cfg, out, resume=True, data_dir=data_dir, verbose=0)
    metrics = json.loads((out / "metrics.json").read_text())
    trained = (metrics["epochs"], metrics["batch_size"], metrics["config"]["learning_rate"])
    if fast:  # fast mode caps epochs and batch size (config.FAST): the run is what it could be
        limits = config.FAST["diffusion"]
        epochs, batch_size = min(epochs, limits.epochs), min(batch_size, limits.batch_size)
    if trained != (epochs, batch_size, learning_rate):
        raise ValueError(f"{out} holds a run of {trained[0]} epochs at batch {trained[1]}, rate {trained[2]}, "
                         f"not {epochs} at {batch_size}, {learning_rate}; give another --runs folder")
    scored = out / "bench.json"
    rows = json.loads(scored.read_text())["rows"] if scored.exists() else []
    row = next((r for r in rows if r["set"].endswith("guidance 1.0") and r["n"] == n), None)
    if row is None:
        argv = ["--run", str(out), "--n", str(n), "--guidance", "1", "--reference", "train", "--out", str(scored)]
        if data_dir:
            argv += ["--data-dir", str(data_dir)]
        diffusion_benchmark.main(argv)
        row = next(r for r in json.loads(scored.read_text())["rows"] if r["set"].endswith("guidance 1.0"))
    return {"batch_size": batch_size, "learning_rate": learning_rate,
            "optimizer_steps": epochs * -(-metrics["examples"] // batch_size),  # the last partial batch is a step too
            "train_seconds": metrics["train_seconds"], "final_loss": metrics["final_loss"], "fd": row["fd"],
            "asked_class_accuracy": row["asked_class_accuracy"], "smallest_class_share": row["smallest_class_share"]}


def main(argv=None) -> int:
    p = json_argument_parser(__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder for the runs (kept: a second call reuses them)")
    p.add_argument("--recipes", nargs="+", default=list(DEFAULT_RECIPES), help="BATCH:LEARNING_RATE each")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--n", type=int, default=500, help="samples per recipe (and training images to compare with)")
    p.add_argument("--fast", action="store_true", help="a smoke test on the small subset")
    p.add_argument("--data-dir")
    args = p.parse_args(argv)
    try:
        recipes = [parse_recipe(r) for r in args.recipes]
    except ValueError as e:
        p.error(str(e))
    if args.epochs < 1 or args.n < 2:
        p.error("--epochs must be at least 1 and --n at least 2")
    runs = Path(args.runs)
    rows = []
    for batch_size, learning_rate in recipes:
        try:
            rows.append(measure(runs, batch_size, learning_rate, epochs=args.epochs, n=args.n, fast=args.fast,
                                data_dir=args.data_dir))
        except ValueError as e:
            p.error(str(e))
        print(json.dumps(rows[-1]), flush=True)
    emit({"epochs": args.epochs, "n": args.n, "reference": f"the last {args.n} training images",
          "rows": {run_name(r["batch_size"], r["learning_rate"]): r for r in rows}}, args.out)
    return 0
