"""01_cnn_classifier: classifier recipes compared on held-out training digits, never the test set.

    python -m course benchmark cnn_recipes [--seeds 0 1 2] [--epochs 5] [--only b128 b64-shift]

Each candidate is the lesson's ``train cnn`` job (same data split, model, optimizer and
schedule) with a few settings changed, trained ``--epochs`` epochs per seed; the table gives
its accuracy on that seed's held-out 10% of the training images (1,426 digits of the MNIST
subset), per seed and summed over the seeds. The test images are not loaded into the
comparison: the chosen recipe is scored on them once, by ``python -m course train cnn``.
"""
from __future__ import annotations

import time

from . import emit, json_argument_parser

#: name: batch size and augmentation (the rest are the job's: learning rate 2e-3 on a cosine, AdamW, 10% held out).
#: For MNIST, ``b128`` was the job's default before this comparison; ``b64-shift`` is since.
CANDIDATES = {
    "b128": {"batch_size": 128, "augment": "none"},
    "b128-shift": {"batch_size": 128, "augment": "shift"},
    "b64": {"batch_size": 64, "augment": "none"},
    "b64-shift": {"batch_size": 64, "augment": "shift"},
    "b64-affine": {"batch_size": 64, "augment": "affine"},
}


def validation_accuracy(settings: dict, seed: int, epochs: int, dataset: str = "mnist", data_dir=None) -> dict:
    """Train the lesson's job with ``settings`` and score it on its own held-out images only."""
    from .. import devices
    from ..evaluation import predict_classes
    from ..jobs.cnn import CNNJob, TrainConfig

    job = CNNJob()
    cfg = TrainConfig(dataset=dataset, epochs=epochs, seed=seed, **settings)
    with devices.training_setup(cfg.precision, cfg.devices):  # the precision and devices the job trains with
        d = job.load(cfg, data_dir)
        model = job.build(cfg, d)
        train, _ = job.feed(cfg, d)
        start = time.perf_counter()
        model.fit(train, epochs=d.epochs, verbose=0)
        seconds = time.perf_counter() - start
        correct = int((predict_classes(model, d.x_val) == d.y_val).sum())
    return {"seed": int(seed), "validation_accuracy": round(correct / len(d.x_val), 4),
            "validation_correct": correct, "validation_examples": int(len(d.x_val)),
            "training_examples": int(len(d.x_train)), "train_seconds": round(seconds, 1)}


def main(argv=None) -> int:
    p = json_argument_parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--only", nargs="+", choices=sorted(CANDIDATES), help="candidates to train (default: all)")
    args = p.parse_args(argv)
    table = {}
    for name in args.only or CANDIDATES:
        rows = [validation_accuracy(CANDIDATES[name], seed, args.epochs, args.dataset) for seed in args.seeds]
        correct, examples = sum(r["validation_correct"] for r in rows), sum(r["validation_examples"] for r in rows)
        table[name] = {"settings": CANDIDATES[name], "validation_accuracy": round(correct / examples, 4),
                       "validation_correct": correct, "validation_examples": examples,
                       "min": min(r["validation_accuracy"] for r in rows),
                       "max": max(r["validation_accuracy"] for r in rows), "rows": rows}
        print(f"{name}: {correct}/{examples} = {correct / examples:.4f} "
              f"(seeds {', '.join(str(r['validation_accuracy']) for r in rows)})", flush=True)
    best = max(table, key=lambda n: table[n]["validation_correct"])
    emit({"dataset": args.dataset, "epochs": args.epochs, "seeds": args.seeds, "candidates": table,
          "best_on_validation": best}, args.out)
    return 0
