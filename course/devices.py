"""Devices, precision and distribution: what the train jobs do on a GPU without being asked.

* :func:`gpus` lists the accelerators the backend sees.
* :func:`resolve_precision` turns ``--precision auto`` into a Keras dtype policy: bfloat16
  where the GPU computes it natively (compute capability 8.0 and up: A100, L4, H100...),
  float16 with loss scaling on older GPUs (Colab's T4 is 7.5), float32 on a CPU. The
  models keep their outputs and losses in float32 and scale the loss under float16.
* :func:`distribution` uses every visible GPU (or ``--devices N`` of them): TensorFlow's
  ``MirroredStrategy`` (``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several
  machines), JAX's ``keras.distribution.DataParallel``. The course writes no distribution
  code of its own.

Taught in passing in every lesson's environment cell; used by every train job.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager, nullcontext

import keras

from . import backend, lesson_costs
from .errors import CourseError

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")

#: Environment that makes TensorFlow and JAX take GPU memory as they need it (``import course`` sets
#: it unless already set): two processes, a run and an evaluator being built, can then share a GPU.
GROW_GPU_MEMORY = {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def gpus() -> list[str]:
    """Names of the GPUs the backend can see (empty on a CPU-only machine)."""
    name = backend.name()
    if name == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if name == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if name == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def compute_capability() -> tuple[int, int] | None:
    """The first GPU's CUDA compute capability, e.g. ``(7, 5)`` for a T4; None without a GPU."""
    if not gpus():
        return None
    name = backend.name()
    try:
        if name == "tensorflow":
            import tensorflow as tf

            details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
            return tuple(details.get("compute_capability", (0, 0)))
        if name == "jax":
            import jax

            major, minor = str(jax.devices("gpu")[0].compute_capability).split(".")
            return int(major), int(minor)
        if name == "torch":
            import torch

            return tuple(torch.cuda.get_device_capability(0))
    except Exception:  # a device that does not say: treat it as an older GPU
        return (0, 0)
    return None


def resolve_precision(requested: str = "auto") -> str:
    """The dtype policy for ``requested`` (one of :data:`PRECISIONS`) on this machine."""
    if requested not in PRECISIONS:
        raise CourseError(f"--precision must be one of {', '.join(PRECISIONS)}; got {requested!r}.")
    if requested != "auto":
        return requested
    capability = compute_capability()
    if capability is None:
        return "float32"  # on a CPU, float16 is slower, not faster, and bfloat16 is emulated on most
    return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16"


def set_precision(policy: str) -> str:
    """Make ``policy`` Keras' global dtype policy; returns it."""
    keras.mixed_precision.set_global_policy(policy)
    return policy


def worker_count() -> int:
    """Machines in the job, from ``TF_CONFIG`` (1 when it is not set)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    return max(1, sum(len(v) for k, v in config.get("cluster", {}).items() if k in ("chief", "worker")))


def is_chief() -> bool:
    """True unless this process is a non-chief worker of a multi-machine run (``TF_CONFIG``): the
    ``chief`` task when the cluster names one, else worker 0. Only the chief writes the run folder."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster, task = config.get("cluster", {}), config.get("task", {})
    if worker_count() <= 1:
        return True
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    return kind == "chief" if "chief" in cluster else (kind == "worker" and index == 0)


@contextmanager
def training_setup(precision: str = "auto", devices: int | None = None):
    """Build and train inside this: the dtype policy of ``precision`` (:func:`resolve_precision`) and the
    distribution of :func:`distribution`, both put back as they were afterwards. Yields
    ``(policy, replicas)``."""
    previous = keras.mixed_precision.global_policy().name
    policy = set_precision(resolve_precision(precision))
    context, replicas = distribution(devices)
    try:
        with context:
            yield policy, replicas
    finally:
        keras.mixed_precision.set_global_policy(previous)
        if backend.name() == "jax" and replicas > 1:
            keras.distribution.set_distribution(None)


def distribution(devices: int | None = None):
    """A context in which to build and train: every visible GPU, or the first ``devices`` of them.

    TensorFlow: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several machines,
    else ``MirroredStrategy`` over two or more GPUs, else the default (one device). JAX:
    ``keras.distribution.DataParallel`` over the devices, set for the process. PyTorch: one
    device. Returns ``(context, replicas)``.
    """
    found = gpus()
    if devices is not None:
        if devices < 1:
            raise CourseError(f"--devices must be at least 1, got {devices}.")
        if found and devices > len(found):
            raise CourseError(f"--devices {devices} asked for, but only {len(found)} GPU(s) are visible.")
    name = backend.name()
    if name == "tensorflow":
        import tensorflow as tf

        if worker_count() > 1:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
            return strategy.scope(), strategy.num_replicas_in_sync
        chosen = found[: devices or len(found)]
        if len(chosen) > 1:
            strategy = tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(len(chosen))])
            return strategy.scope(), strategy.num_replicas_in_sync
        return nullcontext(), 1
    if name == "jax":
        import jax

        chosen = (jax.devices("gpu") if found else jax.devices())[: devices or None]
        if len(chosen) > 1:
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=chosen))
        return nullcontext(), len(chosen) if len(chosen) > 1 else 1
    return nullcontext(), 1


def device_report() -> dict:
    """Versions, backend and devices: what ``python -m course info`` and every lesson print first."""
    import platform
    import sys

    import numpy as np

    from . import config

    found = gpus()
    report = {
        "python": platform.python_version(),
        "backend": backend.name(),
        "backend_version": backend.version(),
        "keras": keras.__version__,
        "numpy": np.__version__,
        "gpus": found,
        "precision": resolve_precision("auto"),
        "fast_mode": config.fast_mode(),
        "colab": "google.colab" in sys.modules,
    }
    if not found:
        report["warning"] = (
            "No GPU visible: training runs on the CPU and full-length lessons will be slow. "
            "In Colab choose Runtime > Change runtime type > GPU; elsewhere set COURSE_FAST=1 "
            "for a quick pass."
        )
    return report


#: The versions CI tests the course with (requirements.txt and the Colab constraints), per library.
TESTED = {"keras": ("3.13", "3.15"), "tensorflow": ("2.20", "2.21"), "jax": ("0.10", "0.10"), "torch": ("2.13", "2.13")}

#: Training images (CycleGAN: image pairs; ``diffusion_sample``: DDIM samples of 50 steps) per second on
#: the idle 2-core development CPU, TensorFlow, float32: :func:`course.lesson_costs.speeds` of the results
#: registry (whole full-settings epochs of each train job, ``python -m course benchmark epoch_speed``;
#: tests/test_results.py fails when these differ from the registry, which a pip install does not bring). The
#: sampler's speed (``diffusion.guidance_sweep``) was measured on 2026-11-30, the epochs on 2026-12-01.
CPU_IMAGES_PER_SECOND: dict[str, float] = {"cnn": 264.9, "cnn_judge": 256.4, "cnn_cifar10": 178.1, "dcgan": 178.3,
                                           "vae": 709.7, "cyclegan": 56.8, "diffusion": 54.6, "diffusion_sample": 13.09,
                                           "vae_iwae": 3031.3}

#: What the full settings of each lesson take without a GPU, in minutes: its long cells
#: (:data:`course.lesson_costs.CELLS`, evaluators included) at the measured speeds. Estimates, not runs.
CPU_MINUTES: dict[str, float] = {
    lesson: round(lesson_costs.lesson_minutes(lesson, CPU_IMAGES_PER_SECOND))
    for lesson in sorted({name[:2] for name, _ in lesson_costs.CELLS})}


def _minor(version: str) -> tuple[int, int]:
    parts = (version.split("+")[0].split(".") + ["0"])[:2]
    return tuple(int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts)


def untested_versions(versions: dict[str, str]) -> list[str]:
    """``"keras 3.16.0 (tested: 3.13-3.15)"`` for each library outside the tested range."""
    out = []
    for library, version in versions.items():
        low, high = TESTED.get(library, (None, None))
        if low and not _minor(low) <= _minor(version) <= _minor(high):
            out.append(f"{library} {version} (tested: {low}-{high})")
    return out


def environment_report(lesson: str | None = None) -> str:
    """The lines every lesson prints first: versions, device, precision, and what to expect.

    Warns when a library is outside the tested versions, and when training would run on a
    CPU, with the time the lesson's full settings take there and how to go faster.
    """
    from . import config
    from .version import __version__

    r = device_report()
    lines = [f"course {__version__} | Python {r['python']} | Keras {r['keras']} on {r['backend']} "
             f"{r['backend_version']} | NumPy {r['numpy']}",
             f"device: {', '.join(r['gpus']) or 'CPU (no GPU visible)'} | precision: {r['precision']} | "
             f"fast mode: {'on' if r['fast_mode'] else 'off'} | home: {config.home()}"]
    outside = untested_versions({"keras": r["keras"], r["backend"]: r["backend_version"]})
    if outside:
        lines.append("WARNING: outside the versions the course is tested with: " + "; ".join(outside)
                     + ". If something fails, install the tested ones: pip install -r requirements.txt.")
    if not r["gpus"]:
        minutes = CPU_MINUTES.get(lesson) if lesson else None
        cost = (f" The full settings of this lesson take about {minutes:.0f} minutes on a 2-core CPU with the "
                "complete datasets (estimated from measured per-image costs)." if minutes else "")
        advice = ("Set COURSE_FAST=1 (fast mode is on)" if r["fast_mode"] else "Set COURSE_FAST=1 before starting")
        lines.append(f"WARNING: no GPU: training runs on the CPU.{cost} {advice} for a quick pass; in Colab, "
                     "Runtime > Change runtime type > GPU.")
    return "\n".join(lines)
