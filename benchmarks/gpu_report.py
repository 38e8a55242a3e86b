"""What a GPU does for the course, in one run: images per second per model and precision, and the
seconds one epoch takes at that rate.

    python benchmarks/gpu_report.py [--out gpu_report.json] [--steps 30] [--models cnn dcgan vae cyclegan]

Runs on whichever Keras backend is installed (TensorFlow, JAX or PyTorch: no TensorFlow needed;
``KERAS_BACKEND`` chooses). For each model it times the train step of the lesson's full settings in
float32 and in the mixed precision the GPU computes natively (``--precision auto``: bfloat16 from
compute capability 8.0, float16 with loss scaling below), after a warm-up that traces and compiles,
through ``fit`` on a fixed batch (the data pipeline is not timed). It prints one table and writes
the same figures, with the device, versions and settings, to one JSON file. On one GPU it finishes
in a few minutes (``--steps`` per measurement; the budget it is sized for is 8 minutes); on a CPU it
runs too, in float32 only, as a check of the script itself (``--steps 3 --models cnn``).

The Keras, namex and course files travel to a GPU machine as wheels or files; see the README's
"On a GPU" section.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the course from this checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_MODELS = ("cnn", "cnn_cifar10", "dcgan", "vae", "cyclegan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_report.json", help="where to write the JSON report")
    p.add_argument("--steps", type=int, default=30, help="timed train steps per measurement")
    p.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS))
    p.add_argument("--precision", nargs="*", default=None,
                   help="dtype policies (default: float32 and the GPU's mixed policy)")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    import keras

    import throughput
    from course import backend, devices

    name = backend.name()
    mode = {"tensorflow": "xla", "jax": "jit", "torch": "eager"}[name]
    gpus = devices.gpus()
    if not gpus:
        mode = {"tensorflow": "graph"}.get(name, mode)
    precisions = args.precision or sorted({"float32", devices.resolve_precision("auto")})
    report = {"device": ", ".join(gpus) or "CPU", "compute_capability": devices.compute_capability(),
              "backend": name, "backend_version": backend.version(), "keras": keras.__version__,
              "python": platform.python_version(), "steps": args.steps, "compile_mode": mode, "results": []}
    print(f"{report['device']} | Keras {keras.__version__} on {name} {report['backend_version']} | "
          f"{args.steps} timed steps, compile mode {mode}")
    print(f"{'model':>12} {'batch':>5} {'precision':>15} {'images/s':>9} {'s/epoch':>8} {'full run':>9}")
    for model in args.models:
        batch, epochs, per_epoch, lesson = throughput.FULL[model]
        for precision in precisions:
            try:
                rate = throughput.images_per_second(model, precision, mode, args.steps)
            except Exception as err:  # one model that fails on this device does not end the report
                print(f"{model:>12} {batch:>5} {precision:>15}  failed: {type(err).__name__}: {str(err)[:160]}")
                report["results"].append({"model": model, "precision": precision, "error": f"{type(err).__name__}: {err}"})
                continue
            row = {"model": model, "batch_size": batch, "precision": precision, "images_per_second": round(rate, 1),
                   "seconds_per_epoch": round(per_epoch / rate, 1), "images_per_epoch": per_epoch,
                   "full_run_minutes": round(epochs * per_epoch / rate / 60, 1), "full_run": f"{lesson}: {epochs} epochs"}
            report["results"].append(row)
            print(f"{model:>12} {batch:>5} {precision:>15} {rate:9.0f} {row['seconds_per_epoch']:8.1f} "
                  f"{row['full_run_minutes']:7.1f} min  ({row['full_run']})", flush=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out} ({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
