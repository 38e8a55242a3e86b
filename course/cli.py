"""``python -m course info|train|evaluate|notebooks``: the course's command line.

Errors the course raises on purpose (missing data, bad shapes, a run folder in
use) are printed as one readable message and exit with status 2, no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from .errors import CourseError

#: model name -> module with ``TrainConfig`` and ``train(cfg, out, resume=, data_dir=, verbose=)``
MODELS = {"cnn": "course.models.cnn", "dcgan": "course.models.dcgan", "vae": "course.models.vae",
          "cyclegan": "course.models.cyclegan"}


def _cmd_info(args) -> int:
    from . import config, data

    report = config.device_report()
    print("course", __import__("course").__version__)
    for key in ("python", "tensorflow", "keras", "numpy", "backend"):
        print(f"{key:>11}: {report[key]}")
    print(f"{'gpus':>11}: {', '.join(report['gpus']) or 'none'}")
    print(f"{'fast mode':>11}: {'on' if report['fast_mode'] else 'off'} (COURSE_FAST)")
    if "warning" in report:
        print(f"\nWARNING: {report['warning']}")
    print("\nDatasets (sources in the order they are tried):")
    for name in data.DATASETS:
        print(f"  {name}")
        try:
            rows = data.sources(name, data_dir=args.data_dir)
        except CourseError as err:
            rows = [{"source": "-", "where": "-", "status": str(err)}]
        usable = next((r for r in rows if r["status"] in ("files present", "available", "cached")), None)
        for r in rows:
            mark = "->" if r is usable else "  "
            print(f"    {mark} {r['source']:<32} {r['status']:<24} {r['where']}")
    return 0


def _cmd_train(args) -> int:
    from . import config

    fast = args.fast or config.fast_mode()
    if fast:
        config.set_fast_mode(True)
    module = importlib.import_module(MODELS[args.model])
    args.dataset = args.dataset or module.TrainConfig.dataset  # mnist, or mnist_m for cyclegan
    out = Path(args.out or f"runs/{args.model}-{args.dataset}")
    verbose = 1 if sys.stdout.isatty() else 2
    given = {"dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
             "fast": fast, "latent_dim": args.latent_dim, "beta": args.beta, "iwae_k": args.iwae_k,
             "kl_warmup_epochs": args.kl_warmup}
    fields = module.TrainConfig.__dataclass_fields__
    for name, value in given.items():
        if value is not None and name not in fields:
            raise CourseError(f"--{name.replace('_', '-')} does not apply to {args.model}.")
    cfg = module.TrainConfig(**{k: v for k, v in given.items() if v is not None})
    from . import data

    data.spec(cfg.dataset)  # an unknown dataset fails here, before anything is built
    metrics = module.train(cfg, out, resume=args.resume, data_dir=args.data_dir, verbose=verbose)
    print(json.dumps({k: v for k, v in metrics.items() if k != "config"}, indent=2))
    print(f"Wrote {out}/: {', '.join(sorted(p.name for p in out.iterdir()))}")
    return 0


def _cmd_evaluate(args) -> int:
    from . import data
    from .metrics import accuracy, predict_classes
    from .models.cnn import load_classifier

    run = Path(args.run)
    meta = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
    dataset = args.dataset or meta.get("dataset")
    if not dataset:
        raise CourseError(f"{run}/metrics.json is missing; name the dataset with --dataset.")
    model = load_classifier(run)
    (_, _), (x_test, y_test) = data.load(dataset, data_dir=args.data_dir)
    data.check_images(x_test, model.input_shape[1:], f"{dataset} test images")
    acc = accuracy(y_test, predict_classes(model, x_test))
    print(json.dumps({"run": str(run), "dataset": dataset, "test_examples": len(y_test),
                      "test_accuracy": round(acc, 4)}, indent=2))
    return 0


def _cmd_notebooks(args) -> int:
    from . import notebooks

    root = Path(args.root) if args.root else None
    if args.action == "build":
        for path in notebooks.build(root):
            print(f"wrote {path}")
        return 0
    problems = notebooks.check(root)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print("Run `python -m course notebooks build` and commit notebooks/.", file=sys.stderr)
        return 1
    print("notebooks/ is in sync with solutions/")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m course", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="versions, devices and where each dataset comes from")
    info.add_argument("--data-dir", help="folder with the official files (default: $COURSE_DATA_DIR)")
    info.set_defaults(func=_cmd_info)

    train = sub.add_parser("train", help="train a model into a run folder")
    train.add_argument("model", choices=list(MODELS))
    train.add_argument("--dataset", help="default: mnist (cyclegan: mnist_m, its domain B)")
    train.add_argument("--epochs", type=int, help="epochs in all (a resumed run stops at this total)")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--fast", action="store_true", help="small real subset, few epochs (also COURSE_FAST=1)")
    train.add_argument("--out", help="run folder (default runs/MODEL-DATASET)")
    train.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--data-dir", help="folder with the official files (default: $COURSE_DATA_DIR)")
    vae = train.add_argument_group("vae only")
    vae.add_argument("--latent-dim", type=int, help="size of the latent code (default 32)")
    vae.add_argument("--beta", type=float, help="weight of the KL term (default 1)")
    vae.add_argument("--kl-warmup", type=int, help="epochs over which beta rises from 0 (default 0: none)")
    vae.add_argument("--iwae-k", type=int, help="samples per image for the importance-weighted bound (default 50)")
    train.set_defaults(func=_cmd_train)

    ev = sub.add_parser("evaluate", help="re-measure a trained classifier (cnn) run on its test set")
    ev.add_argument("run", help="run folder written by `train`")
    ev.add_argument("--dataset")
    ev.add_argument("--data-dir")
    ev.set_defaults(func=_cmd_evaluate)

    nb = sub.add_parser("notebooks", help="build student notebooks from solutions/, or check they are in sync")
    nb.add_argument("action", choices=("build", "check"))
    nb.add_argument("--root", help="project folder holding solutions/ and notebooks/")
    nb.set_defaults(func=_cmd_notebooks)
    return p


def _check_positive(args) -> None:
    for flag in ("epochs", "batch_size", "latent_dim", "iwae_k"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise CourseError(f"--{flag.replace('_', '-')} must be at least 1, got {value}.")
    for flag in ("beta", "kl_warmup"):
        value = getattr(args, flag, None)
        if value is not None and value < 0:
            raise CourseError(f"--{flag.replace('_', '-')} must not be negative, got {value}.")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        _check_positive(args)
        return args.func(args)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:  # running from a checkout that was never installed
        print(f"error: {err.name} is not installed. Install the course first: pip install -r requirements.txt",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the last completed epoch is checkpointed; re-run with --resume to continue.",
              file=sys.stderr)
        return 130
