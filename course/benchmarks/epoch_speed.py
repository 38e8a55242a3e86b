"""Lessons 01-06, how long training takes: ``python -m course benchmark epoch_speed [--jobs cnn dcgan ...] [--xla]``.

Each train job at its full settings (the lesson's model, batch size and per-epoch callbacks:
sample grids, label-preservation monitors, checkpoints) trains three epochs on the data at hand
into a scratch folder; the mean wall time of the second and third (the first one also traces and
compiles the step) gives seconds per epoch and training images per second. Both are kept: on a
shared machine one epoch can take twice as long as the next. ``vae_iwae``: lesson 03's
importance-weighted bound, in samples of z per second (k = 50 per image, 1,000 test images). Nothing is sampled or scored
after training. The speeds give the CPU minutes each lesson's long cells announce
(``course.devices``), for the complete datasets a learner downloads.
"""
from __future__ import annotations

import tempfile
import time

from . import emit, json_argument_parser

#: name -> (job, the settings its lesson trains with, besides the job's defaults)
JOBS = {
    "cnn": ("cnn", {"dataset": "mnist"}),
    "cnn_judge": ("cnn", None),  # the evaluator of lessons 02-06 (course.jobs.evaluators.recipe for MNIST)
    "cnn_cifar10": ("cnn", {"dataset": "cifar10"}),
    "dcgan": ("dcgan", {}),
    "vae": ("vae", {}),
    "cyclegan": ("cyclegan", {"dataset": "mnist_m"}),
    "diffusion": ("diffusion", {"conditional": True}),  # lesson 06 trains the conditional model
}


EPOCHS = 3  # the first traces and compiles; the others are timed


def job_config(name: str, xla: bool = False):
    """``(model, TrainConfig)`` of the row ``name`` of :data:`JOBS`: full settings, :data:`EPOCHS` epochs."""
    from ..jobs import job_module

    model_name, settings = JOBS[name]
    if settings is None:  # the judge's recipe, less its epochs
        from dataclasses import asdict

        from ..jobs.evaluators import recipe

        settings = {k: v for k, v in asdict(recipe("mnist", fast=False)).items() if k != "epochs"}
    config = job_module(model_name).TrainConfig
    return model_name, config(**{**settings, "epochs": EPOCHS, **({"jit_compile": "always"} if xla else {})})


def epoch_speed(name: str, data_dir=None, xla: bool = False) -> dict:
    """Mean seconds of the full-settings epochs of job ``name`` (:data:`JOBS`) after the first, and its images per second.

    ``xla``: the same with the train step compiled by XLA on any device (``--jit-compile always``), for the jobs
    that have the setting; the jobs' default is XLA on a TensorFlow GPU only (``--jit-compile gpu``)."""
    from .. import devices
    from ..jobs.base import TrainJob
    from ..runs import RunFolder

    model_name, cfg = job_config(name, xla)
    job = next(cls for cls in TrainJob.__subclasses__() if cls.name == model_name)()
    with tempfile.TemporaryDirectory() as tmp, devices.training_setup(cfg.precision, cfg.devices) as (policy, _):
        d, model, history = job.fit(cfg, RunFolder(tmp), policy, data_dir=data_dir, verbose=0)  # the job's own training
    # the images one epoch trains on, as the job counts them (a GAN drops the last partial batch)
    per_epoch = round(job.record(cfg, d, {"epoch_seconds": [1.0]})["images_per_second"])
    first, *timed = (float(s) for s in history["epoch_seconds"])
    seconds = sum(timed) / len(timed)
    return {"job": model_name, "dataset": cfg.dataset, "batch_size": d.batch_size,
            **({"augment": cfg.augment} if hasattr(cfg, "augment") else {}), "images_per_epoch": per_epoch,
            "seconds_per_epoch": round(seconds, 2), "timed_epochs": [round(s, 2) for s in timed],
            "first_epoch_seconds": round(first, 2), "images_per_second": round(per_epoch / seconds, 1),
            "jit_compile": bool(getattr(model, "jit_compile", False))}


def iwae_speed(k: int = 50, n: int = 1000, data_dir=None) -> dict:
    """Samples of z per second of lesson 03's importance-weighted bound (``k`` per test image) on ``n`` binarised
    test images, for the full-settings VAE (its weights do not change the cost), after a warm-up batch."""
    from .. import data, evaluation
    from ..jobs import vae as vae_job
    from ..models import vae

    (_, _), (x_test, _) = data.load("mnist", data_dir=data_dir)
    x = vae.binarize_fixed(x_test[:n], seed=0)
    model = vae.make_vae(latent_dim=vae_job.TrainConfig().latent_dim, seed=0)
    evaluation.evaluate_nats(model, x[:250], iwae_k=k)  # traces
    start = time.perf_counter()
    evaluation.evaluate_nats(model, x, iwae_k=k)
    seconds = time.perf_counter() - start
    return {"images": len(x), "k": k, "seconds": round(seconds, 2), "samples_per_second": round(len(x) * k / seconds, 1)}


def main(argv=None) -> int:
    p = json_argument_parser(__doc__.splitlines()[0])
    p.add_argument("--jobs", nargs="+", choices=[*JOBS, "vae_iwae"], default=[*JOBS, "vae_iwae"])
    p.add_argument("--xla", action="store_true",
                   help="also time the jobs that have a jit_compile setting (dcgan, cyclegan) with XLA on any device")
    args = p.parse_args(argv)
    from .. import backend, devices
    from ..jobs import job_module

    result = {"backend": backend.name(), "device": ", ".join(devices.gpus()) or "CPU"}
    for name in args.jobs:
        result[name] = iwae_speed() if name == "vae_iwae" else epoch_speed(name)
        print(name, result[name], flush=True)
        if args.xla and name in JOBS and hasattr(job_module(JOBS[name][0]).TrainConfig, "jit_compile"):
            result[f"{name}_xla"] = epoch_speed(name, xla=True)
            print(f"{name}_xla", result[f"{name}_xla"], flush=True)
    emit(result, args.out)
    return 0
