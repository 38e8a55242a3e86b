"""The five `--fast` train jobs under the backend of this environment, with their figures checked.

    KERAS_BACKEND=jax python .ci/fast_jobs.py [OUT]

Runs `python -m course train MODEL --fast` for the DCGAN, VAE, CycleGAN, diffusion model and CNN, two
at a time (on the data of COURSE_DATA_DIR), prints each job's time and headline figures, and fails when a job fails or a
figure is outside the range TensorFlow's fast runs fall in (ranges wide enough for another
backend's different random draws, narrow enough to catch a broken step: chance accuracy, NaN,
a generator that learned nothing).
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# figure: (low, high), for the fast settings (a small real subset, 2 epochs)
EXPECTED = {
    "dcgan": {"fid_classifier": (0.0, 300.0), "final_D(x)": (0.05, 0.99), "final_D(G(z))": (0.01, 0.95)},
    "vae": {"test_nll_nats": (60.0, 250.0)},
    # one fast epoch leaves label preservation at chance on every backend (TensorFlow 0.09, JAX 0.12-0.20,
    # PyTorch 0.09): only the round trip A->B->A has learned something by then (0.33-0.47; 0.95 untrained)
    "cyclegan": {"label_preservation_accuracy.mean": (0.0, 1.0), "cycle_l1_by_domain.a": (0.0, 0.6)},
    # two fast epochs: the noise-prediction loss well below 1 (the loss of predicting zeros), finite FD
    "diffusion": {"final_loss": (0.0, 0.5), "fid_classifier": (0.0, 1000.0)},
    "cnn": {"test_accuracy": (0.80, 1.0)},
}


def figure(metrics: dict, key: str):
    value = metrics
    for part in key.split("."):
        value = value[part]
    return value


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="fast-jobs-"))
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    env = {**os.environ, "COURSE_HOME": str(out / "home"), "COURSE_FAST": "1"}

    def run(model):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "course", "train", model, "--fast", "--out", str(out / model)],
                              env=env, capture_output=True, text=True)
        return done, time.perf_counter() - start

    # two jobs at a time: much of a fast job is single-threaded (imports, tracing, compiling), and the
    # jobs share nothing but the cached evaluator, which is built once under a lock
    with ThreadPoolExecutor(max_workers=2) as pool:
        finished = dict(zip(EXPECTED, pool.map(run, EXPECTED)))
    failures = []
    for model, ranges in EXPECTED.items():
        done, seconds = finished[model]
        if done.returncode != 0:
            failures.append(f"{model}: exit {done.returncode}\n{done.stderr[-3000:]}")
            print(f"{backend} {model}: FAILED after {seconds:.0f} s")
            continue
        metrics = json.loads((out / model / "metrics.json").read_text())
        shown = {key: figure(metrics, key) for key in ranges}
        print(f"{backend} {model}: {seconds:.0f} s (two jobs at a time), backend {metrics.get('backend')}, precision "
              f"{metrics.get('precision')}, {json.dumps(shown)}", flush=True)
        if metrics.get("backend") != backend:
            failures.append(f"{model}: trained on {metrics.get('backend')}, not {backend}")
        for key, (low, high) in ranges.items():
            value = shown[key]
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
                failures.append(f"{model}: {key} = {value}, expected within [{low}, {high}]")
    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
