"""Judging trained runs side by side (lesson 05): ``python -m course evaluate RUN`` and ``compare RUN...``.

``evaluate_run`` scores what a DCGAN, VAE, CycleGAN or diffusion run generates with every measure of
:func:`course.evaluation.score_images` (Fréchet distance and KID with their spread at one
sample size, precision and recall, the class histogram, the memorisation test), adds what only
that model has (a VAE's bound in nats, a CycleGAN's label preservation), and writes
``evaluation.json`` into the run. ``compare`` puts several such evaluations, and the real and
baseline rows, in one table and one figure.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .. import config, data
from ..errors import CourseError
from ..evaluation import blur, classifier_features, detector_scores, score_images, train_detector
from ..io import FileLock, write_json_atomic
from ..models.cyclegan import translate
from ..models.vae import prior_samples
from ..runs import copy_to_continue, load_saved_model
from . import job_module
from .evaluators import evaluator

#: How many images each set is scored with (equal for every row: Fréchet distances compare only so).
SCORED = 2000


def run_metrics(run) -> dict:
    """A run folder's ``metrics.json``, or a clear error when the folder holds no finished run."""
    run = Path(run)
    path = run / "metrics.json"
    if not path.is_file():
        raise CourseError(f"{run} has no metrics.json: is it a run folder written by `python -m course train`?")
    return json.loads(path.read_text())


def check_mnist(run, meta: dict) -> None:
    """Lesson 05's measures use the MNIST classifier: a run of another dataset is refused by name."""
    if meta.get("dataset") not in ("mnist", "mnist_m"):
        raise CourseError(f"{run} was trained on {meta.get('dataset')}; lesson 05's measures use the MNIST "
                          "classifier, so they judge MNIST runs (and CycleGAN's F(b) digits).")


def run_images(run, n: int = SCORED, data_dir=None) -> tuple[np.ndarray, dict]:
    """What a run generates, as uint8 MNIST-shaped images, and its metrics.json."""
    run = Path(run)
    meta = run_metrics(run)
    kind = meta.get("model")
    if kind == "dcgan":  # the samples the run saved
        with np.load(run / "samples.npz") as saved:
            return saved["samples"][:n], meta
    if kind == "diffusion":  # the samples the run saved (DDIM, from a fixed seed), and more when they are fewer than n
        return job_module("diffusion").sample_pool(run, n), meta
    if kind == "vae":
        probabilities = prior_samples(load_saved_model(run, "decoder.keras", "vae"), n, seed=meta.get("seed", 0))
        return np.rint(255.0 * probabilities).astype(np.uint8), meta
    if kind == "cyclegan":
        (_, _), (test_b, _) = data.load(meta["dataset"], data_dir=data_dir)
        return data.to_grey(translate(load_saved_model(run, "F_B_to_A.keras", "cyclegan"), test_b[:n])), meta
    raise CourseError(f"{run} is a {kind!r} run; evaluate judges dcgan, vae, cyclegan and diffusion runs (a cnn run: its "
                      "test accuracy, with the same command).")


class Reference:
    """The real images every set is judged against: the MNIST classifier, its features of real test
    images, and the training images a generator could have copied."""

    def __init__(self, fast: bool, data_dir=None, train_examples: int | None = None, real_examples: int | None = None):
        loaded = data.load("mnist", data_dir=data_dir)
        (x_train, _), (x_test, _) = loaded
        self.class_names = loaded.class_names
        self.judge = evaluator("mnist", fast=fast, data_dir=data_dir)
        self.train = x_train[:train_examples] if train_examples else x_train
        half = len(x_test) // 2
        self.real, self.heldout = x_test[:half], x_test[half:]  # FD reference | memorisation's held-out images
        if real_examples:  # fewer real images featurised: enough for sets of real_examples / 2
            self.real = self.real[:real_examples]
        self.real_features, _ = classifier_features(self.judge, self.real)

    def score(self, images: np.ndarray, n: int = SCORED) -> dict:
        return score_images(images, self.judge, self.real_features, self.class_names, self.train, self.heldout, n)


def evaluate_run(run, data_dir=None, n: int = SCORED, reference: Reference | None = None) -> dict:
    """Score a dcgan, vae, cyclegan or diffusion run and write ``evaluation.json`` into it."""
    run = Path(run)
    meta = run_metrics(run)
    check_mnist(run, meta)
    reference = reference or Reference(bool(meta.get("fast")), data_dir, meta.get("examples"))
    n = min(n, len(reference.real) // 2)  # the real side's pool is 2n too
    images, meta = run_images(run, 2 * n, data_dir)  # a pool of 2n: each repeat of FD and KID draws n afresh
    n = min(n, len(images) // 2)
    result = {"run": str(run), "model": meta["model"], "epochs": meta.get("epochs"), "fast": bool(meta.get("fast")),
              "train_seconds": meta.get("train_seconds"), **reference.score(images, n)}
    if meta["model"] == "vae":
        result["nats"] = {k: meta[k] for k in ("test_nll_nats", "test_iwae_nats") if k in meta}
    if meta["model"] == "diffusion":
        result["sampler"] = f"{meta.get('sampler')}, {meta.get('sample_steps')} steps"
        if "asked_class_accuracy" in meta:  # conditional: how often the classifier reads the asked digit
            result["asked_class_accuracy"] = meta["asked_class_accuracy"]
            result["guidance"] = meta.get("guidance")
    if meta["model"] == "cyclegan":
        result["label_preservation"] = meta.get("label_preservation_accuracy")
        result["scored"] = "F(b): MNIST-M test digits translated to MNIST"
    write_json_atomic(run / "evaluation.json", result)
    return result


def baselines(reference: Reference, n: int = SCORED, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows every table should have: real test images (the best a generator can do), the same
    digits blurred, and uniform noise."""
    rng = np.random.default_rng(seed)
    real = reference.heldout[:n]
    return {"real test images": real, "blurred real images": blur(real),
            "uniform noise": rng.integers(0, 256, real.shape).astype(np.uint8)}


def detector_report(reference: Reference, pool: np.ndarray, unseen: dict[str, np.ndarray], *, held_out: str,
                    epochs: int, seed: int = 0):
    """Lesson 05's detector of generated images: trained on 80% of ``pool`` (one generator's samples,
    label 1) against as many real training images (label 0) for ``epochs`` epochs, then shown, beside as
    many held-out real images each, the pool's other 20% (named ``held_out``) and every set of ``unseen``
    (name -> samples of generators it never saw). Returns the detector, ``{name: (scores, labels)}`` and
    the seconds its training took."""
    cut = int(0.8 * len(pool))
    if cut < 64 or len(pool) - cut < 1:  # train_detector's batch of 64 per class, and something held out
        raise CourseError(f"the detector needs at least 80 generated images (80% to train, 20% held out), got {len(pool)}")
    if held_out in unseen or not all(len(images) for images in unseen.values()):
        raise CourseError(f"the sets shown to the detector need distinct names ({held_out!r} is taken) and images each")
    start = time.perf_counter()
    detector = train_detector(reference.train[:cut], pool[:cut], epochs=epochs, seed=seed)
    seconds = time.perf_counter() - start
    shown = {}
    for name, fakes in {held_out: pool[cut:], **unseen}.items():
        k = min(len(fakes), len(reference.heldout))
        scores = detector_scores(detector, np.concatenate([reference.heldout[:k], fakes[:k]]))
        shown[name] = (scores, np.r_[np.zeros(k), np.ones(k)])
    return detector, shown, seconds


def table(rows: dict[str, dict]) -> str:
    """One line per set: Fréchet distance and KID (+- spread), precision, recall, memorisation."""
    lines = [f"{'set':<30}{'FD':>14}{'KID':>18}{'precision':>11}{'recall':>8}{'copy ratio':>12}{'train s':>9}  verdict"]
    for name, r in rows.items():
        mem = r.get("memorisation", {})
        lines.append(f"{name:<30}{r['fd']:>8.2f} ±{r['fd_std']:<5.2f}{r['kid']:>10.3f} ±{r['kid_std']:<6.3f}"
                     f"{r['precision']:>11.3f}{r['recall']:>8.3f}{mem.get('ratio', float('nan')):>12.2f}"
                     f"{_seconds(r.get('train_seconds')):>9}  {mem.get('verdict', '')}")
    n = {r["n"] for r in rows.values()}
    lines.append(f"(every set scored at n = {', '.join(map(str, sorted(n)))} images; FD and KID in the MNIST "
                 "classifier's features, not Inception's)")
    return "\n".join(lines)


def _seconds(value) -> str:
    return "" if value is None else f"{value:.0f}"


def figure(rows: dict[str, dict]):
    """Fréchet distance with its spread, and precision against recall, for every set."""
    import matplotlib.pyplot as plt

    names = list(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    left.barh(names, [rows[k]["fd"] for k in names], xerr=[rows[k]["fd_std"] for k in names], color="tab:blue")
    left.set_xscale("symlog", linthresh=1)
    left.set_xlabel("Fréchet distance in classifier features (lower is better)")
    left.invert_yaxis()
    for name in names:
        right.scatter(rows[name]["recall"], rows[name]["precision"], s=40)
        right.annotate(name, (rows[name]["recall"], rows[name]["precision"]), fontsize=7, xytext=(4, 2),
                       textcoords="offset points")
    right.set_xlim(-0.05, 1.05)
    right.set_ylim(-0.05, 1.05)
    right.set_xlabel("recall (diversity)")
    right.set_ylabel("precision (fidelity)")
    fig.tight_layout()
    return fig


def compare(run_dirs, out=None, data_dir=None, n: int = SCORED, reference: Reference | None = None) -> tuple[str, dict]:
    """Score each run and the real and baseline rows at one sample size (half the smallest pool, at most
    ``n``; every FD and KID repeat draws its n images afresh from both pools): the print-ready table and the rows; the figure is saved as ``out`` (PNG) when given.
    Each run's scores are also written to its ``evaluation.json``."""
    runs_ = [Path(r) for r in run_dirs]
    if not runs_:
        raise CourseError("name at least one run folder to compare.")
    fast = {bool(run_metrics(r).get("fast")) for r in runs_}
    if len(fast) > 1:
        raise CourseError("fast-mode and full runs are judged by different classifiers: compare runs of one kind.")
    reference = reference or Reference(fast.pop(), data_dir)
    for r in runs_:
        check_mnist(r, run_metrics(r))
    n = min(n, len(reference.heldout) // 2, len(reference.real_features) // 2)  # the real pools hold 2n
    # pools of 2n (each repeat draws n afresh): the fixed pools (saved or translated images) set n first, so that
    # a diffusion run's pool, which can be drawn to any size, is drawn only as far as it is needed
    generated = {r: run_images(r, 2 * n, data_dir)[0] for r in runs_ if run_metrics(r).get("model") != "diffusion"}
    n = min([n] + [len(x) // 2 for x in generated.values()])
    generated.update({r: run_images(r, 2 * n, data_dir)[0] for r in runs_ if r not in generated})
    n = min([n] + [len(x) // 2 for x in generated.values()])
    rows = {name: reference.score(images, n) for name, images in baselines(reference, 2 * n).items()}
    for r in runs_:
        rows[f"{run_metrics(r)['model']} {r.name}"] = evaluate_run(r, data_dir, n, reference)
    if out:
        figure(rows).savefig(out, dpi=120)
    return table(rows), rows


#: The runs lesson 05 judges: name -> (model, settings, run folder under the course's runs folder).
#: The long DCGAN and the VAE are what `python -m course train dcgan` / `train vae` write by default;
#: the short DCGAN is lesson 02's length (5 epochs). Fast mode trains each for one epoch (FAST_EPOCHS), the long DCGAN as
#: the short one continued to 2.
LESSON_RUNS = {"DCGAN, short": ("dcgan", {"epochs": 5}, "dcgan-mnist-short"),
               "DCGAN, 20 epochs": ("dcgan", {}, "dcgan-mnist"),
               "VAE, 30 epochs": ("vae", {}, "vae-mnist"),
               "Diffusion, 10 epochs": ("diffusion", {}, "diffusion-mnist")}


#: Fast mode's epochs of lesson 05's runs (1 for the others).
FAST_EPOCHS = {"DCGAN, 20 epochs": 2}


def lesson_runs(fast: bool, data_dir=None, verbose: int = 2) -> dict[str, Path]:
    """The runs to judge: the full-settings runs in the course's runs folder when they are all there
    (and fast mode is off), else fast-mode runs, each trained now when missing. A found run is
    used as it is, never retrained."""
    root = config.runs_dir()
    full = not fast and all((root / folder / "metrics.json").is_file() for _, _, folder in LESSON_RUNS.values())
    if not fast and not full:
        missing = [f"python -m course train {m} --out {root / f}" + (f" --epochs {s['epochs']}" if s else "")
                   for m, s, f in LESSON_RUNS.values() if not (root / f / "metrics.json").is_file()]
        print("Full-settings runs missing; judging fast-mode runs instead. For the full comparison run:\n  "
              + "\n  ".join(missing))
    found = {}
    root.mkdir(parents=True, exist_ok=True)
    for name, (model, settings, folder) in LESSON_RUNS.items():
        run = root / (folder if full else folder + "-fast")
        # one trainer at a time: another notebook (or process) training the same run is waited for
        with FileLock(run.with_name(run.name + ".lesson05.lock"), what=f"Training {run}", wait=True):
            if not (run / "metrics.json").is_file():
                module = job_module(model)
                print(f"{name}: training {run}")
                resume = False
                if not full:  # fast runs say only that the code runs: one epoch each, the long DCGAN one more
                    settings = {**settings, "epochs": FAST_EPOCHS.get(name, 1)}
                    short = found.get("DCGAN, short")
                    if name == "DCGAN, 20 epochs" and short is not None:
                        # the short run continued, as the full-settings 20-epoch runs are (a DCGAN extends exactly)
                        copy_to_continue(short, run)
                        resume = True
                module.train(module.TrainConfig(dataset="mnist", fast=not full, **settings), run, resume=resume,
                             data_dir=data_dir, verbose=verbose)
        found[name] = run
    return found
