"""``python -m course info|train|evaluate|notebooks``: the course's command line.

Errors the course raises on purpose (missing data, bad shapes, a run folder in
use) are printed as one readable message and exit with status 2, no traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__, config, notebooks
from .errors import CourseError
from .jobs import JOBS, job_module

# The commands below import what needs NumPy or Keras when they run, so that
# `notebooks build|check` works from a bare checkout with the standard library alone.


def _cmd_info(args) -> int:
    from . import data

    from . import devices

    report = devices.device_report()
    print("course", __version__)
    for key in ("python", "keras", "backend", "backend_version", "numpy"):
        print(f"{key.replace('_', ' '):>15}: {report[key]}")
    print(f"{'gpus':>15}: {', '.join(report['gpus']) or 'none'}")
    print(f"{'precision':>15}: {report['precision']} (what --precision auto uses here)")
    print(f"{'fast mode':>15}: {'on' if report['fast_mode'] else 'off'} (COURSE_FAST)")
    print(f"{'home':>15}: {config.home()} (COURSE_HOME: runs and caches)")
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


def _field_help(config_class) -> dict[str, str]:
    """The comment written beside each field of a config dataclass: its ``--help`` text."""
    import inspect
    import re

    found = {}
    for cls in reversed(config_class.__mro__[:-1]):
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        found.update(re.findall(r"^\s+(\w+): [^#\n]*#\s*(.+)$", source, re.M))
    return found


def _train_parser(model: str, config_class) -> argparse.ArgumentParser:
    """``train MODEL``'s flags: the run's own, then one per field of the model's ``TrainConfig``."""
    import dataclasses
    import typing

    p = argparse.ArgumentParser(prog=f"python -m course train {model}",
                                description=f"Train a {model} into a run folder (settings: {config_class.__name__}).")
    p.add_argument("--out", help="run folder (default: runs/MODEL-DATASET[-conditional][-fast] in $COURSE_HOME)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--data-dir", help="folder with the official files (default: $COURSE_DATA_DIR)")
    helps = _field_help(config_class)
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        options = [a for a in typing.get_args(kind) if a is not type(None)] or [kind]
        kind = options[0] if len(options) == 1 else kind
        text = f"{helps.get(field.name, '')} (default: {field.default})".strip()
        if kind is bool:
            action = "store_true" if field.name == "fast" else argparse.BooleanOptionalAction
            p.add_argument(flag, action=action, default=None, help=text)
        elif typing.get_origin(kind) is typing.Literal:
            p.add_argument(flag, choices=typing.get_args(kind), default=None, help=text)
        else:
            p.add_argument(flag, type=kind if kind in (int, float, str) else str, default=None, metavar=field.name.upper(),
                           help=text)
    return p


def default_run_folder(model: str, cfg) -> Path:
    """``runs/MODEL-DATASET[-conditional][-fast]`` in the course's home: a conditional diffusion model
    is another run than the unconditional one, a fast run another than the full one."""
    kind = "-conditional" if getattr(cfg, "conditional", False) else ""
    return config.runs_dir() / f"{model}-{cfg.dataset}{kind}{'-fast' if cfg.fast else ''}"


def _cmd_train(args) -> int:
    from . import data

    module = job_module(args.model)
    parser = _train_parser(args.model, module.TrainConfig)
    given, unknown = parser.parse_known_args(args.options)
    if unknown:
        flags = ", ".join(a for a in unknown if a.startswith("--")) or " ".join(unknown)
        raise CourseError(f"{flags} does not apply to {args.model}; `python -m course train {args.model} --help` "
                          "lists its flags.")
    settings = {k: v for k, v in vars(given).items() if v is not None and k not in ("out", "resume", "data_dir")}
    settings["fast"] = bool(settings.get("fast")) or config.fast_mode()
    if settings["fast"]:
        config.set_fast_mode(True)
    cfg = module.TrainConfig(**settings)
    data.spec(cfg.dataset)  # an unknown dataset fails here, before anything is built
    out = Path(given.out) if given.out else default_run_folder(args.model, cfg)
    verbose = 1 if sys.stdout.isatty() else 2
    metrics = module.train(cfg, out, resume=given.resume, data_dir=given.data_dir, verbose=verbose)
    print(json.dumps({k: v for k, v in metrics.items() if k != "config"}, indent=2))
    print(f"Wrote {out}/: {', '.join(sorted(p.name for p in out.iterdir() if not p.name.startswith('.')))}")
    return 0


def _cmd_evaluate(args) -> int:
    from . import data
    from .evaluation import predict_classes
    from .jobs import judge
    from .jobs.cnn import load_classifier
    from .metrics import accuracy

    run = Path(args.run)
    meta = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
    if meta.get("model") in ("dcgan", "vae", "cyclegan", "diffusion"):
        result = judge.evaluate_run(run, data_dir=args.data_dir)
        print(json.dumps(result, indent=2))
        print(f"Wrote {run / 'evaluation.json'}")
        return 0
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


def _cmd_compare(args) -> int:
    from .jobs import judge

    text, _ = judge.compare(args.runs, out=args.out, data_dir=args.data_dir)
    print(text)
    if args.out:
        print(f"Wrote {args.out}")
    return 0


def _cmd_notebooks(args) -> int:
    root = Path(args.root) if args.root else None
    if args.action == "build":
        for path in notebooks.build(root, repository=args.repo, ref=args.ref, out=args.out):
            print(f"wrote {path}")
        repository, ref = notebooks.home_address(root)
        print(f"badges and install cells point at {args.repo or repository} @ {args.ref or ref}")
        return 0
    if args.repo or args.ref or args.out:
        raise CourseError("--repo, --ref and --out apply to `notebooks build`; `check` compares with the course's "
                          "own address.")
    problems = notebooks.check(root)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print("Run `python -m course notebooks build` and commit notebooks/.", file=sys.stderr)
        return 1
    print("notebooks/ is in sync with solutions/")
    return 0


def _cmd_grade(args) -> int:
    from . import grading, sandbox

    if args.timeout <= 0:
        raise CourseError(f"--timeout must be positive, got {args.timeout:g}.")
    if args.memory <= 0:
        raise CourseError(f"--memory must be positive, got {args.memory:g}.")
    limits = sandbox.Limits(memory_bytes=int(args.memory * (1 << 30)))
    warning = ("WARNING: --no-sandbox: the students' code runs with your rights, your network and your files; "
               "the CSV records it.")
    if args.no_sandbox:
        print(warning, file=sys.stderr)
    graded = grading.grade(args.submissions, root=args.root, lesson=args.lesson, timeout=args.timeout, out=args.out,
                           sandboxed=not args.no_sandbox, limits=limits,
                           progress=lambda sub: print(grading.line(sub), file=sys.stderr, flush=True))
    print(grading.summary(graded))
    if args.out:
        print(f"\nWrote {args.out}: one row per submission and exercise.")
    if args.no_sandbox:
        print(warning, file=sys.stderr)
    return 0


def _cmd_benchmark(args) -> int:
    from . import benchmarks

    if not args.name:
        for name, (_, what) in benchmarks.BENCHMARKS.items():
            print(f"{name:<18} {what}")
        return 0
    if args.name not in benchmarks.BENCHMARKS:
        raise CourseError(f"no benchmark {args.name!r}; there are {', '.join(benchmarks.BENCHMARKS)}.")
    return benchmarks.run(args.name, args.options)


def _cmd_results(args) -> int:
    from . import results

    records = results.load(notebooks.project_root(args.root))
    for rid, record in records.items():
        value = record["value"]
        shown = "(table)" if isinstance(value, (dict, list)) else results.formatted(value, record.get("format"))
        print(f"{rid:<32} {shown:>8}  <- {' ; '.join(results.commands(record))}")
    return 0


def _cmd_reproduce(args) -> int:
    import os
    import shlex
    import subprocess

    from . import results

    records = results.load(notebooks.project_root(args.root))
    if args.id not in records:
        raise CourseError(f"no record {args.id!r} in results/; `python -m course results` lists them.")
    record = records[args.id]
    for key in ("id", "command", "data", "n", "seeds", "machine", "date", "source", "notes"):
        if key in record:
            print(f"{key:>8}: {record[key]}")
    recorded = json.dumps(record["value"], indent=1, ensure_ascii=False)
    print(f"{'value':>8}: {recorded} {record.get('unit', '')}".rstrip())
    lines = results.commands(record)
    if args.dry_run:
        print("\n".join(lines))
        return 0
    code = 0
    os.environ.setdefault("COURSE_HOME", str(config.home()))  # for commands that name $COURSE_HOME
    for line in lines:
        words = shlex.split(os.path.expandvars(line))
        if words[:1] == ["python"]:  # this interpreter, the one the course is installed in
            words[0] = sys.executable
        print(f"\nrunning: {shlex.join(words)}\n", flush=True)
        code = subprocess.call(words)
        if code:
            print(f"stopped: that command exited with status {code}", file=sys.stderr)
            break
    print(f"\nrecorded ({record['date']}, {record['machine']}): {recorded} {record.get('unit', '')}".rstrip())
    print("Compare with what the command printed above: a rerun on another machine or seed differs a little; "
          "figures over several seeds give their spread.")
    return code


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m course", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="versions, devices and where each dataset comes from")
    info.add_argument("--data-dir", help="folder with the official files (default: $COURSE_DATA_DIR)")
    info.set_defaults(func=_cmd_info)

    train = sub.add_parser("train", help="train a model into a run folder (`train MODEL --help` lists its flags)",
                           add_help=False)
    train.add_argument("model", choices=list(JOBS))
    train.add_argument("options", nargs=argparse.REMAINDER, help="the model's flags")
    train.set_defaults(func=_cmd_train)

    ev = sub.add_parser("evaluate", help="measure a run: a cnn's test accuracy; for dcgan, vae and cyclegan runs "
                                         "every lesson-05 measure, written to RUN/evaluation.json")
    ev.add_argument("run", help="run folder written by `train`")
    ev.add_argument("--dataset")
    ev.add_argument("--data-dir")
    ev.set_defaults(func=_cmd_evaluate)

    cmp_ = sub.add_parser("compare", help="judge dcgan, vae and cyclegan runs side by side with real and baseline images")
    cmp_.add_argument("runs", nargs="+", help="run folders written by `train`")
    cmp_.add_argument("--out", help="save the figure (Frechet distance, precision vs recall) as this PNG")
    cmp_.add_argument("--data-dir")
    cmp_.set_defaults(func=_cmd_compare)

    nb = sub.add_parser("notebooks", help="build student notebooks from solutions/, or check they are in sync")
    nb.add_argument("action", choices=("build", "check"))
    nb.add_argument("--root", help="project folder holding solutions/ and notebooks/")
    nb.add_argument("--repo", help="build: the repository the badges and install cells point at (a fork's address)")
    nb.add_argument("--ref", help="build: the branch, tag or commit they install (default: v<version>)")
    nb.add_argument("--out", help="build: write the student notebooks here instead of notebooks/ (README untouched)")
    nb.set_defaults(func=_cmd_notebooks)

    gr = sub.add_parser("grade", help="run a folder of submitted student notebooks and report each exercise")
    gr.add_argument("submissions", help="folder of submitted .ipynb files (searched recursively)")
    gr.add_argument("--lesson", help="the lesson they all are, e.g. 02 (default: from each file's name or cells)")
    gr.add_argument("--timeout", type=float, default=1800,
                    help="seconds one submission's cells may run in all before it is stopped (1800)")
    gr.add_argument("--memory", type=float, default=6, help="GiB of address space each process of a submission may "
                                                             "use (6)")
    gr.add_argument("--no-sandbox", action="store_true",
                    help="run submissions without the bubblewrap sandbox, with your rights (warned, and recorded in "
                         "the CSV)")
    gr.add_argument("--out", help="write one row per submission and exercise to this CSV file")
    gr.add_argument("--root", help="the course the notebooks were handed out from (default: this checkout)")
    gr.set_defaults(func=_cmd_grade)

    bench = sub.add_parser("benchmark", help="run a measurement behind the course's figures (no NAME: list them)",
                           add_help=False)
    bench.add_argument("name", nargs="?")
    bench.add_argument("options", nargs=argparse.REMAINDER, help="the benchmark's own flags (NAME --help)")
    bench.set_defaults(func=_cmd_benchmark)

    res = sub.add_parser("results", help="list the results registry: every figure the course quotes, and its command")
    res.add_argument("--root", help="project folder holding results/ (default: this checkout)")
    res.set_defaults(func=_cmd_results)

    rep_ = sub.add_parser("reproduce", help="show a figure's record and re-run the command that produced it")
    rep_.add_argument("id", help="a record id (`python -m course results` lists them)")
    rep_.add_argument("--dry-run", action="store_true", help="print the record and the command, run nothing")
    rep_.add_argument("--root", help="project folder holding results/ (default: this checkout)")
    rep_.set_defaults(func=_cmd_reproduce)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
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
