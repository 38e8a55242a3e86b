"""02_dcgan, a moving average of G's weights: ``python -m course benchmark dcgan_ema [--seeds 0] [--ema 0.99]``.

Trains the lesson's DCGAN (``python -m course train dcgan --ema M``) for each seed, 5 epochs and
then the same run continued to 20, and at each point scores two generators of the *same* run with
the same judge and the same noise: G's last weights (what the course's default run samples from)
and their moving average. The average does not change what is trained (a unit test checks this
step for step), so the difference is the average's alone.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from . import emit, json_argument_parser


def _scores(samples, judge, real, class_names, pr_n: int) -> dict:
    """The lesson-05 scores of ``samples`` against the judge's features ``real`` of the test images."""
    from .. import metrics
    from ..evaluation import classifier_features
    from ..jobs.evaluators import score_features

    fake, fake_classes = classifier_features(judge, samples)
    scored = score_features(fake_features=fake, fake_classes=fake_classes, real_features=real,
                            class_names=class_names, dataset="mnist")
    pr = metrics.precision_recall(real[:pr_n], fake[:pr_n])
    shares = scored["sample_class_histogram"].values()
    return {"fd": scored["fid_classifier"], "fd_floor": scored["fid_classifier_floor"],
            "kid": scored["kid_classifier"], "precision": round(pr["precision"], 3), "recall": round(pr["recall"], 3),
            "class_share_min": round(min(shares), 4), "class_share_max": round(max(shares), 4)}


def measure(seeds, ema: float, epochs, samples: int, pr_n: int, out: Path) -> dict:
    from .. import devices
    from .. import runs as run_folders
    from ..evaluation import classifier_features
    from ..jobs import dcgan as job
    from ..jobs.evaluators import evaluator
    from ..models import dcgan

    result = {"ema": ema, "samples": samples, "precision_recall_n": pr_n, "runs": {}}
    judge = real = None  # the judge, and its features of the test images: the same for every point scored
    for seed in seeds:
        folder, per_seed = out / f"dcgan-ema-seed{seed}", {}
        for i, n_epochs in enumerate(epochs):
            cfg = job.TrainConfig(dataset="mnist", epochs=n_epochs, seed=seed, ema=ema, samples=samples)
            metrics_json = job.train(cfg, folder, resume=i > 0, verbose=0)
            d = job.DCGANJob().load(cfg)
            if judge is None:
                judge = evaluator("mnist", fast=False)
                real, _ = classifier_features(judge, d.x_test)
            with np.load(folder / "samples.npz") as saved:
                averaged = saved["samples"]
            with devices.training_setup(cfg.precision, cfg.devices):  # the precision the job trained in
                model = job.DCGANJob().build(cfg, d)  # the last checkpoint holds G's last weights
                run_folders.restore(model, run_folders.RunFolder(folder))
                last = dcgan.sample(model.generator, len(averaged), seed=seed)
            names = d.loaded.class_names
            per_seed[str(n_epochs)] = {"last_weights": _scores(last, judge, real, names, pr_n),
                                       "averaged": _scores(averaged, judge, real, names, pr_n),
                                       "train_seconds": metrics_json.get("train_seconds")}
            print(f"seed {seed}, {n_epochs} epochs: last weights FD {per_seed[str(n_epochs)]['last_weights']['fd']}, "
                  f"averaged FD {per_seed[str(n_epochs)]['averaged']['fd']}", flush=True)
        result["runs"][str(seed)] = per_seed
    for n_epochs in map(str, epochs):
        for which in ("last_weights", "averaged"):
            for key in ("fd", "precision", "recall", "class_share_min"):
                values = [result["runs"][str(s)][n_epochs][which][key] for s in seeds]
                result.setdefault(n_epochs, {}).setdefault(which, {})[key] = round(float(np.mean(values)), 4)
    return result


def main(argv=None) -> int:
    p = json_argument_parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--ema", type=float, default=0.99)
    p.add_argument("--epochs", type=int, nargs="+", default=[5, 20], help="the same run, continued to each")
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--precision-recall-n", type=int, default=2000, help="images a side for precision and recall")
    p.add_argument("--keep", help="keep the run folders here (default: a temporary folder)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        emit(measure(args.seeds, args.ema, sorted(args.epochs), args.samples, args.precision_recall_n,
                     Path(args.keep or tmp)), args.out)
    return 0
