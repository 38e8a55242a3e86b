"""What each lesson's long cells cost on a 2-core CPU at full settings, from measured speeds.

A cell that trains (or samples) for more than about a minute says so in its first line, a
comment that ``python -m course notebooks build`` writes from this table and the results
registry, for example::

    # On a 2-core CPU at full settings: about 41 minutes (5 DCGAN epochs of 60,000 images at 122 images/s).

The images are the complete datasets a learner downloads (MNIST and Fashion-MNIST 60,000
training images, CIFAR-10 50,000), whatever subset the course's own machines hold; the speeds
are measured (record ``speed.epoch_seconds``: whole full-settings epochs of each train job after the first,
``python -m course benchmark epoch_speed``; the diffusion sampler's from
``diffusion.guidance_sweep``). ``course.devices`` adds a lesson's cells into the estimate its
environment report prints. Standard library only: the notebook build runs from a bare checkout.
"""
from __future__ import annotations

#: The first line of a cell whose cost is announced starts with this.
PREFIX = "# On a 2-core CPU at full settings:"

#: (solution notebook's name without .ipynb, cell id) -> (what the cell runs, [(speed, images)]): ``images`` at ``speed`` (images per second,
#: :func:`speeds`) each. MNIST's lesson-01 recipe trains on 54,000 images (10% held out); CycleGAN on about
#: 29,500 pairs (half of MNIST's training digits per domain, 1,000 held out); the MNIST-M evaluator on 53,100.
CELLS: dict[tuple[str, str], tuple[str, list[tuple[str, int]]]] = {
    ("01_cnn_classifier", "train"): ("5 epochs of 54,000 MNIST images", [("cnn", 54_000 * 5)]),
    ("01_cnn_classifier", "cifar-train"): ("30 epochs of 45,000 CIFAR-10 images", [("cnn_cifar10", 45_000 * 30)]),
    ("02_dcgan", "train"): ("5 DCGAN epochs of 60,000 images", [("dcgan", 60_000 * 5)]),
    ("02_dcgan", "measure"): ("the lesson-01 evaluator, trained the first time a lesson asks for it: 5 epochs of 54,000 "
                        "images; cached after that", [("cnn", 54_000 * 5)]),
    ("02_dcgan", "fail"): ("two runs of 300 steps of 64 images", [("dcgan", 2 * 300 * 64)]),
    ("03_vae", "train"): ("30 VAE epochs of 60,000 images", [("vae", 60_000 * 30)]),
    ("03_vae", "beta"): ("two VAEs, one epoch of 60,000 images each", [("vae", 2 * 60_000)]),
    ("03_vae", "v1"): ("six one-epoch models, two per seed", [("vae", 6 * 60_000)]),
    ("04_cyclegan", "train"): ("24 CycleGAN epochs of about 29,500 pairs, and the MNIST-M evaluator the first time: 5 epochs "
                      "of 53,100 images", [("cyclegan", 29_500 * 24), ("cnn", 53_100 * 5)]),
    ("06_diffusion", "train"): ("10 epochs of 60,000 images", [("diffusion", 60_000 * 10)]),
    ("06_diffusion", "measure"): ("3 x 1,000 DDIM samples of 50 steps, the guided ones at twice the network calls, and the "
                        "lesson-01 evaluator if no lesson has trained it yet: 5 epochs of 54,000 images",
                        [("diffusion_sample", 4 * 1_000), ("cnn", 54_000 * 5)]),
}


#: What a speed counts, where it is not images.
UNITS = {"cyclegan": "pairs", "diffusion_sample": "samples"}


def speeds(records: dict) -> dict[str, float]:
    """Images (samples) per second behind :data:`CELLS`, from the results registry's records."""
    measured = records["speed.epoch_seconds"]["value"]
    sweep = records["diffusion.guidance_sweep"]
    out = {name: float(row["images_per_second"]) for name, row in measured.items() if isinstance(row, dict)}
    # unguided DDIM samples per second (w = 1: one network call per step), the sweep's sample size over its time
    out["diffusion_sample"] = round(sweep["n"] / sweep["value"]["1.0"]["sample_seconds"], 2)
    return out


def minutes(cell: tuple[str, str], rates: dict[str, float]) -> float:
    """Minutes the cell takes at ``rates`` (:func:`speeds`)."""
    return sum(images / rates[speed] for speed, images in CELLS[cell][1]) / 60


def comment(cell: tuple[str, str], rates: dict[str, float]) -> str:
    """The first line of ``cell``: its minutes, what it runs, and at which measured speed."""
    what, parts = CELLS[cell]
    at = " and ".join(f"{rates[speed]:,.0f} {UNITS.get(speed, 'images')}/s" for speed in dict.fromkeys(s for s, _ in parts))
    total = minutes(cell, rates)
    size = f"{total:.0f} minutes" if total >= 1.5 else "a minute" if total >= 0.75 else "under a minute"
    return f"{PREFIX} about {size} ({what}; measured speed {at})."


def lesson_minutes(lesson: str, rates: dict[str, float]) -> float:
    """All of a lesson's announced cells, in minutes (``lesson``: its number, "02")."""
    return sum(minutes(cell, rates) for cell in CELLS if cell[0][:2] == lesson)
