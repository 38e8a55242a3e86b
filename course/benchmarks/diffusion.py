"""Lesson 06's sampler and guidance figures for a finished diffusion run:
`python -m course benchmark diffusion --run DIR [--n 500] [--steps 50] [--eta 0 1] [--ddpm [--unclipped]]
[--guidance 0 1 3 5] [--reference test|train]`.

For the run's network (with its averaged weights) it generates ``--n`` images per setting from one seed
and scores each set with the lesson-01 MNIST classifier (the same classifier as the run's metrics):
Fréchet distance to ``--n`` real test images, the smallest class share, and, for a conditional run, how
often the classifier reads the asked digit. Settings: DDIM with ``--steps`` steps; with ``--ddpm`` also the
ancestral sampler over all T steps (slow: T network calls per image), and with ``--unclipped`` also its
textbook step, whose estimate of x_0 is not clipped to [-1, 1] (what the clipping is worth); for a conditional run each
guidance weight of ``--guidance``; for an unconditional run each DDIM noise level ``--eta``. Prints
the wall time of each set's sampling too. ``--reference train`` compares with the *last* ``--n``
training images instead of the test images: what choosing a sampler setting uses, so that the test
set is touched once, for the figure.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from . import emit
from .. import data, metrics
from ..evaluation import classifier_features
from ..jobs import diffusion as diffusion_job
from ..jobs.evaluators import evaluator


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a finished `python -m course train diffusion` run folder")
    p.add_argument("--n", type=int, default=500, help="images per set (and real images to compare with)")
    p.add_argument("--steps", type=int, default=50, help="DDIM steps")
    p.add_argument("--ddpm", action="store_true", help="also the ancestral sampler over all T steps")
    p.add_argument("--unclipped", action="store_true",
                   help="with --ddpm: also the ancestral sampler's textbook step, x_0's estimate not clipped")
    p.add_argument("--guidance", type=float, nargs="*", default=[0.0, 1.0, 2.0, 3.0, 5.0],
                   help="conditional runs: guidance weights to sweep (DDIM)")
    p.add_argument("--eta", type=float, nargs="*", default=None,
                   help="DDIM noise levels to compare (0: deterministic, 1: fresh noise at every step); "
                        "default: the run's own")
    p.add_argument("--reference", choices=("test", "train"), default="test",
                   help="real images to compare with: the test set, or the last N training images (to choose settings)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir")
    p.add_argument("--out", help="also write the result as JSON to this file")
    args = p.parse_args(argv)
    if args.unclipped and not args.ddpm:
        p.error("--unclipped compares the ancestral sampler's two steps: give --ddpm too")
    meta = json.loads((Path(args.run) / "metrics.json").read_text())
    model = diffusion_job.load_model(args.run)
    judge = evaluator(meta["dataset"], fast=bool(meta.get("fast")), data_dir=args.data_dir)
    (x_train, _), (x_test, _) = data.load(meta["dataset"], data_dir=args.data_dir)
    reference = x_test[: args.n] if args.reference == "test" else x_train[-args.n:]
    real_features, _ = classifier_features(judge, reference)
    etas = args.eta if args.eta else [meta.get("config", {}).get("eta", 0.0)]
    if model.conditional and len(etas) > 1:
        p.error("a conditional run sweeps guidance weights at one --eta; give one value")
    classes = model.num_classes or 10
    asked = diffusion_job.asked_labels(args.n, classes)

    def score(name, **kwargs):
        start = time.perf_counter()
        images = data.from_symmetric(model.sample(args.n, seed=args.seed, **kwargs))
        seconds = time.perf_counter() - start
        features, predicted = classifier_features(judge, images)
        row = {"set": name, "n": args.n, "sample_seconds": round(seconds, 1),
               "fd": round(metrics.frechet_distance(features, real_features), 3),
               "smallest_class_share": round(float((np.bincount(predicted, minlength=classes) / len(predicted)).min()), 4)}
        if model.conditional:
            row["asked_class_accuracy"] = round(float(np.mean(predicted == asked)), 4)
        print(json.dumps(row), flush=True)
        return row

    rows = []
    if model.conditional:
        for w in args.guidance:
            rows.append(score(f"DDIM {args.steps} steps, eta {etas[0]:g}, guidance {w}", steps=args.steps, labels=asked, guidance=w,
                              eta=etas[0]))
        if args.ddpm:
            for clip in (True, False) if args.unclipped else (True,):
                rows.append(score(f"DDPM {model.schedule.timesteps} steps{'' if clip else ', x_0 unclipped'}, "
                                  f"guidance {args.guidance[-1]}", sampler="ddpm", labels=asked,
                                  guidance=args.guidance[-1], clip=clip))
    else:
        for eta in etas:
            rows.append(score(f"DDIM {args.steps} steps, eta {eta:g}", steps=args.steps, eta=eta))
        if args.ddpm:
            for clip in (True, False) if args.unclipped else (True,):
                rows.append(score(f"DDPM {model.schedule.timesteps} steps{'' if clip else ', x_0 unclipped'}",
                                  sampler="ddpm", clip=clip))
    emit({"run": str(args.run), "dataset": meta["dataset"], "epochs": meta.get("epochs"),
          "reference": f"{args.n} {args.reference} images" + (" (the last ones)" if args.reference == "train" else ""),
          "rows": rows}, args.out)
