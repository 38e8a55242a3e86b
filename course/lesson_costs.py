"""What each lesson's long cells cost on a 2-core CPU at full settings, from measured speeds.

A cell that trains (or samples, or measures) for about a minute or more at full settings says so
in its first line, a comment that ``python -m course notebooks build`` writes from this table and
the results registry, for example::

    # Estimated at full settings on a 2-core CPU: about N minutes (5 epochs x 54,000 MNIST images at R images/s, measured).

The work is counted on the complete datasets a learner downloads (MNIST and Fashion-MNIST 60,000
training images, CIFAR-10 50,000), whatever subset the course's own machines hold, from the
lessons' full-settings parameters (:data:`PARAMETERS`; ``notebooks check`` fails when a lesson's
parameters cell says otherwise). The speeds are measured: record ``speed.epoch_seconds``
(``python -m course benchmark epoch_speed``: whole epochs of each train job after the first, and the
VAE's importance-weighted bound), and the diffusion sampler's from ``diffusion.guidance_sweep``.
``course.devices`` adds a lesson's cells into the estimate its environment report prints.
Standard library only: the notebook build runs from a bare checkout.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import CourseError

#: The first line of a cell whose cost is announced starts with this.
PREFIX = "# Estimated at full settings on a 2-core CPU:"

#: The full-settings values of the lessons' parameters that the costs below count with (``notebooks check``
#: compares them with each lesson's parameters cell, the ``else`` side of ``X = a if FAST else b``).
PARAMETERS: dict[str, dict[str, int]] = {
    "01_cnn_classifier": {"NUM_EPOCHS": 5, "CIFAR_EPOCHS": 30},
    "02_dcgan": {"NUM_EPOCHS": 5, "FAILURE_STEPS": 300, "BATCH_SIZE": 64},
    "03_vae": {"NUM_EPOCHS": 30, "IWAE_K": 50},
    "04_cyclegan": {"NUM_EPOCHS": 24},
    "05_evaluation": {"SCORED": 2000},
    "06_diffusion": {"NUM_EPOCHS": 10, "BATCH_SIZE": 16, "SCORED": 1000, "SAMPLE_STEPS": 50},
}

#: The evaluators' recipe (course.jobs.evaluators.recipe, tested): the lesson-01 job, 5 epochs of the 90% of
#: the training images it does not hold out, at its own batch size and augmentation (not the lesson's; its speed
#: is ``cnn_judge``); EVALUATOR is its work as a :class:`Part` counts it.
EVALUATOR_EPOCHS, EVALUATOR_IMAGES = 5, 54_000
EVALUATOR = f"{EVALUATOR_EPOCHS} * {EVALUATOR_IMAGES:_}"


@dataclass(frozen=True)
class Part:
    """Some work of a cell: ``count`` (an expression in the lesson's :data:`PARAMETERS`) units at ``speed``
    (a key of :func:`speeds`), described by ``label`` (formatted with the parameters). ``first_time``: only
    until its result is cached (an evaluator)."""

    speed: str
    count: str
    label: str
    first_time: bool = False


#: (solution notebook's name without .ipynb, cell id) -> its work. MNIST's lesson-01 recipe trains on 54,000
#: images (10% held out); CycleGAN on about 29,500 pairs (half of MNIST's training digits per domain, less
#: 1,000 held out).
CELLS: dict[tuple[str, str], list[Part]] = {
    ("01_cnn_classifier", "train"): [Part("cnn", "NUM_EPOCHS * 54_000", "{NUM_EPOCHS} epochs x 54,000 MNIST images")],
    ("01_cnn_classifier", "cifar-train"): [Part("cnn_cifar10", "CIFAR_EPOCHS * 45_000",
                                                "{CIFAR_EPOCHS} epochs x 45,000 CIFAR-10 images")],
    ("02_dcgan", "train"): [Part("dcgan", "NUM_EPOCHS * 60_000", "{NUM_EPOCHS} epochs x 60,000 images")],
    ("02_dcgan", "measure"): [Part("cnn_judge", EVALUATOR, "the lesson-01 evaluator", first_time=True)],
    ("02_dcgan", "fail"): [Part("dcgan", "2 * FAILURE_STEPS * BATCH_SIZE",
                                "2 runs x {FAILURE_STEPS} steps x {BATCH_SIZE} images")],
    ("03_vae", "train"): [Part("vae", "NUM_EPOCHS * 60_000", "{NUM_EPOCHS} epochs x 60,000 images")],
    ("03_vae", "measure"): [Part("vae_iwae", "10_000 * IWAE_K", "10,000 test images x {IWAE_K} z samples")],
    ("03_vae", "beta"): [Part("vae", "2 * 60_000", "2 VAEs x 1 epoch x 60,000 images")],
    ("03_vae", "v1"): [Part("vae", "6 * 60_000", "6 models x 1 epoch x 60,000 images")],
    ("04_cyclegan", "train"): [Part("cyclegan", "NUM_EPOCHS * 29_500", "{NUM_EPOCHS} epochs x about 29,500 pairs"),
                               Part("cnn_judge", EVALUATOR, "the MNIST-M evaluator", first_time=True),
                               Part("cnn_judge", EVALUATOR, "the MNIST one unless lesson 02 or 06 trained it", first_time=True)],
    # the diffusion run saved SCORED samples; lesson 05 judges from pools of 2 x SCORED, the rest drawn once (and kept)
    ("05_evaluation", "runs"): [Part("diffusion_sample", "SCORED", "{SCORED} more DDIM samples of the diffusion run "
                                     "(50 steps), to complete its pool", first_time=True)],
    ("06_diffusion", "train"): [Part("diffusion", "NUM_EPOCHS * 60_000", "{NUM_EPOCHS} epochs x 60,000 images")],
    # three sets of SCORED samples, the guided set at two network calls per step; the speed is at 50 steps
    ("06_diffusion", "measure"): [Part("diffusion_sample", "4 * SCORED * SAMPLE_STEPS // 50",
                                       "3 sets x {SCORED} samples x {SAMPLE_STEPS} steps, one set guided at twice the calls"),
                                  Part("cnn_judge", EVALUATOR, "the lesson-01 evaluator", first_time=True)],
}

#: What a speed counts, where it is not images.
UNITS = {"cyclegan": "pairs", "diffusion_sample": "samples", "vae_iwae": "z samples"}


def speeds(records: dict) -> dict[str, float]:
    """Units per second behind :data:`CELLS`, from the results registry's records."""
    try:
        measured = records["speed.epoch_seconds"]["value"]
        sweep = records["diffusion.guidance_sweep"]
        out = {name: float(row["images_per_second"]) for name, row in measured.items()
               if isinstance(row, dict) and "images_per_second" in row}
        out["vae_iwae"] = float(measured["vae_iwae"]["samples_per_second"])
        # unguided DDIM samples of 50 steps per second (w = 1: one network call per step), the sweep's n over its time
        out["diffusion_sample"] = round(sweep["n"] / sweep["value"]["1.0"]["sample_seconds"], 2)
    except (KeyError, TypeError, ZeroDivisionError) as err:
        raise CourseError(f"the speeds behind the lessons' cost lines are missing from results/ ({err!r}): record "
                          "speed.epoch_seconds comes from `python -m course benchmark epoch_speed`, "
                          "diffusion.guidance_sweep from `python -m course benchmark diffusion`") from None
    return out


def _count(part: Part, lesson: str) -> float:
    return float(eval(part.count, {"__builtins__": {}}, dict(PARAMETERS.get(lesson, {}))))  # the table's own text


def minutes(cell: tuple[str, str], rates: dict[str, float], first_time: bool | None = None) -> float:
    """Minutes the cell takes at ``rates`` (:func:`speeds`): all its work, or only the first-time part
    (``first_time=True``) or only the rest (``False``)."""
    return sum(_count(p, cell[0]) / rates[p.speed] for p in CELLS[cell]
               if first_time is None or p.first_time == first_time) / 60


def _size(minutes: float) -> str:
    if minutes < 0.75:
        return "under a minute"
    if minutes < 3:
        half = round(minutes * 2) / 2
        return "about a minute" if half == 1 else f"about {half:g} minutes"
    return f"about {minutes:.0f} minutes"


def _what(parts: list[Part], lesson: str, rates: dict[str, float]) -> str:
    values = {name: f"{value:,}" for name, value in PARAMETERS.get(lesson, {}).items()}
    return "; ".join(f"{p.label.format(**values)} at {rates[p.speed]:,.0f} {UNITS.get(p.speed, 'images')}/s"
                     for p in parts)


def comment(cell: tuple[str, str], rates: dict[str, float]) -> str:
    """The first line of ``cell``: its minutes, what it runs, at which measured speeds; work that is cached
    after the first time (an evaluator) apart."""
    parts = [p for p in CELLS[cell] if not p.first_time]
    first = [p for p in CELLS[cell] if p.first_time]
    text = PREFIX
    text += f" {_size(minutes(cell, rates, False))}" + (f" ({_what(parts, cell[0], rates)}, measured)" if parts else "")
    if first:
        evaluators = [p for p in first if p.count == EVALUATOR]
        pieces = [_what([p], cell[0], rates) for p in first if p.count != EVALUATOR]
        if evaluators:
            each = " each" if len(evaluators) > 1 else ""
            pieces.insert(0, f"{' and '.join(p.label for p in evaluators)} ({EVALUATOR_EPOCHS} epochs x "
                             f"{EVALUATOR_IMAGES:,} images{each} at {rates['cnn_judge']:,.0f} images/s)")
        text += f"; first time only, {_size(minutes(cell, rates, True))} more: {' and '.join(pieces)}"
    return text + "."


def lesson_minutes(lesson: str, rates: dict[str, float]) -> float:
    """All of a lesson's announced cells, first-time work included, in minutes (``lesson``: its number, "02")."""
    return sum(minutes(cell, rates) for cell in CELLS if cell[0][:2] == lesson)
