"""Lesson 05's full-settings table over several seeds: `python -m course benchmark lesson05_seeds --runs DIR`.

For each seed S (``--seeds``, default 0 1 2) the runs lesson 05 judges, trained with
``python -m course train``'s own code at full settings into ``DIR`` when missing (a run found there
is used as it is): ``dcgan-5-sS`` (5 epochs, lesson 02's length), ``dcgan-20-sS`` (that run copied
and continued to 20 epochs, which extends a DCGAN run exactly), ``vae-30-sS`` (30 epochs, latent
32, with its nats) and ``diffusion-10-sS`` (``train diffusion``'s default: unconditional, 10 epochs; its
2,000 saved DDIM samples completed to a pool of 4,000 once, as lesson 05 does). Then every run is scored as lesson 05 scores it: at one sample size ``--n``
(default 2,000 per side, drawn from pools of twice that, both sides redrawn in each of 5 repeats)
against the real test images, with a detector trained on the seed's 20-epoch DCGAN samples (80% of
10,000 against as many training images, 5 epochs) and shown held-out samples of that DCGAN, the
other generators of the same seed. Prints one JSON object: the rows that do not depend on a
training run once (real, blurred, noise), each generator's row per seed, and for each figure the
mean, smallest and largest over the seeds.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..jobs import dcgan as dcgan_job
from ..jobs import diffusion as diffusion_job
from ..jobs import judge
from ..jobs import vae as vae_job
from ..runs import copy_to_continue
from . import emit, json_argument_parser

#: Row name -> run folder prefix (the seed is appended as ``-sS``).
ROWS = {"DCGAN 5 epochs": "dcgan-5", "DCGAN 20 epochs": "dcgan-20", "VAE": "vae-30", "Diffusion 10 epochs": "diffusion-10"}
#: Figures of each generator's row summarised over the seeds.
FIGURES = ("fd", "kid", "precision", "recall", "memorisation_ratio", "near_copies", "class_share_min", "class_share_max")
DETECTOR_IMAGES, DETECTOR_EPOCHS = 10_000, 5  # as lesson 05's parameters at full settings
FAST_SCORED = 300  # --fast: lesson 05's fast-mode sample size (a fast diffusion run saved a pool of 2 x 300)


def train_runs(root: Path, seed: int, data_dir=None, fast: bool = False, verbose: int = 0) -> dict[str, Path]:
    """The seed's four runs in ``root``, each trained only when its metrics.json is missing (``fast``:
    fast-mode runs of 1 and 2 DCGAN epochs and one epoch of the others, a smoke test of this command, not a figure)."""
    runs = {name: root / f"{prefix}{'-fast' if fast else ''}-s{seed}" for name, prefix in ROWS.items()}
    short, long, vae, diffusion = runs.values()
    if not (short / "metrics.json").is_file():
        dcgan_job.train(dcgan_job.TrainConfig(epochs=1 if fast else 5, seed=seed, fast=fast), short,
                        data_dir=data_dir, verbose=verbose)
    if not (long / "metrics.json").is_file():
        copy_to_continue(short, long)
        dcgan_job.train(dcgan_job.TrainConfig(epochs=2 if fast else 20, seed=seed, fast=fast), long, resume=True,
                        data_dir=data_dir, verbose=verbose)
    if not (vae / "metrics.json").is_file():
        vae_job.train(vae_job.TrainConfig(epochs=30, latent_dim=32, seed=seed, fast=fast), vae, data_dir=data_dir,
                      verbose=verbose)
    if not (diffusion / "metrics.json").is_file():  # `train diffusion`'s default: unconditional, 10 epochs
        diffusion_job.train(diffusion_job.TrainConfig(epochs=1 if fast else 10, seed=seed, fast=fast), diffusion,
                            resume=True, data_dir=data_dir, verbose=verbose)
    return runs


def row(scores: dict) -> dict:
    """The figures of one scored set that the table shows."""
    shares = np.array(list(scores["class_histogram"].values()))
    out = {k: round(float(scores[k]), 4) for k in ("fd", "fd_std", "kid", "precision", "recall")}
    out["class_share_min"], out["class_share_max"] = round(float(shares.min()), 4), round(float(shares.max()), 4)
    if "memorisation" in scores:
        out["memorisation_ratio"] = round(float(scores["memorisation"]["ratio"]), 3)
        out["near_copies"] = scores["memorisation"]["near_copies"]
    return out


def detector_aucs(reference: judge.Reference, runs: dict[str, Path], n: int, seed: int, data_dir=None) -> dict:
    """Lesson 05's detector for one seed (:func:`course.jobs.judge.detector_report`, as the lesson's cell):
    trained on the 20-epoch DCGAN's samples, its AUC on held-out samples of that DCGAN and on the other
    generators of the seed, which it never saw."""
    from ..metrics import roc_auc

    pool = judge.run_images(runs["DCGAN 20 epochs"], DETECTOR_IMAGES, data_dir)[0]
    unseen = {f"{name} (unseen)": judge.run_images(run, 2 * n, data_dir)[0]
              for name, run in runs.items() if name != "DCGAN 20 epochs"}
    _, shown, seconds = judge.detector_report(reference, pool, unseen, held_out="held-out DCGAN 20 epochs",
                                              epochs=DETECTOR_EPOCHS, seed=seed)
    cut = int(0.8 * len(pool))
    out = {"training_samples": cut, "train_seconds": round(seconds, 2),
           "images_per_second": round(2 * cut * DETECTOR_EPOCHS / seconds, 1)}
    for name, (scores, labels) in shown.items():
        out[name] = round(float(roc_auc(scores, labels)), 4)
    return out


def summary(per_seed: dict[str, dict]) -> dict:
    """Mean, smallest and largest of each figure over the seeds (``fd`` is the mean; ``fd_min``, ``fd_max``)."""
    out = {}
    for key in next(iter(per_seed.values())):
        values = [r[key] for r in per_seed.values() if key in r]
        out[key] = round(float(np.mean(values)), 4)
        out[f"{key}_min"], out[f"{key}_max"] = round(float(min(values)), 4), round(float(max(values)), 4)
    return out


def main(argv=None) -> None:
    p = json_argument_parser(__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder of the runs (trained there when missing, reused when found)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n", type=int, default=judge.SCORED, help="images per side of every score")
    p.add_argument("--data-dir")
    p.add_argument("--fast", action="store_true", help="fast-mode runs and judge: checks the command, measures nothing")
    args = p.parse_args(argv)
    root = Path(args.runs)
    root.mkdir(parents=True, exist_ok=True)
    runs = {seed: train_runs(root, seed, args.data_dir, args.fast) for seed in args.seeds}
    reference = judge.Reference(fast=args.fast, data_dir=args.data_dir)
    n = min(args.n, len(reference.heldout) // 2, FAST_SCORED if args.fast else args.n)
    rows = {name: row(reference.score(images, n)) for name, images in judge.baselines(reference, 2 * n).items()}
    per_row = {name: {} for name in ROWS}
    detectors = {}
    for seed, seed_runs in runs.items():
        for name, run in seed_runs.items():
            start = time.perf_counter()
            images = judge.run_images(run, 2 * n, args.data_dir)[0]  # a diffusion run's pool: completed once, kept
            drawn = time.perf_counter()
            scored = row(reference.score(images, n))
            scored["score_seconds"] = round(time.perf_counter() - drawn, 2)  # lesson 05's table: one such per set
            scored["pool_seconds"] = round(drawn - start, 2)
            meta = judge.run_metrics(run)
            scored["train_seconds"] = meta.get("train_seconds")
            if name == "VAE":
                scored.update({k: meta[k] for k in ("test_nll_nats", "test_iwae_nats") if k in meta})
            per_row[name][str(seed)] = scored
        detectors[str(seed)] = detector_aucs(reference, seed_runs, n, seed, args.data_dir)
    for name, per_seed in per_row.items():
        rows[name] = {**summary({s: {k: v for k, v in r.items() if k in FIGURES or k.startswith("test_")}
                                 for s, r in per_seed.items()}), "runs": per_seed}
    ratios = [r["memorisation_ratio"] for per_seed in per_row.values() for r in per_seed.values()]
    emit({"n": n, "seeds": args.seeds, "fast": args.fast, "rows": rows,
          "memorisation_ratio_min": min(ratios), "memorisation_ratio_max": max(ratios),
          "detector_auc": {**summary(detectors), "runs": detectors}}, args.out)


if __name__ == "__main__":
    main()
