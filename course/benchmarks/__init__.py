"""Measurements behind the course's figures, as ``python -m course benchmark NAME [ARGS]``.

They live in the package (not in a ``benchmarks/`` folder of the checkout) so that a
``pip install`` brings them and Colab can run them. Each figure the lessons quote names
its command in the results registry (``results/``); ``python -m course reproduce ID`` runs it.
"""
from __future__ import annotations

import argparse
import importlib
import json

#: name -> (module under course.benchmarks, one line of what it measures)
BENCHMARKS = {
    "gan_failures": ("gan_failures", "02_dcgan, When GANs fail: D speed x G loss, several seeds, FD / precision / recall"),
    "dcgan_ema": ("dcgan_ema", "02_dcgan: G's last weights against their moving average, same runs, same judge"),
    "cnn_recipes": ("cnn_recipes", "01_cnn_classifier: classifier recipes compared on held-out training digits, several seeds"),
    "bn_momentum": ("bn_momentum", "01_cnn_classifier: BatchNorm momentum 0.99 vs 0.9 in a short run, several seeds"),
    "vae": ("vae", "03_vae: nats of a VAE run, with a large-k importance-weighted estimate"),
    "cyclegan_recipes": ("cyclegan_recipes", "04_cyclegan: candidate recipes compared on validation digits"),
    "diffusion": ("diffusion", "06_diffusion: DDIM against DDPM, and the guidance sweep, of a finished diffusion run"),
    "diffusion_batch": ("diffusion_batch", "06_diffusion: the same epochs at batch 64, 32 and 16 (more optimizer steps), scored on training images"),
    "lesson05_seeds": ("lesson05_seeds", "05_evaluation: the full-settings table (DCGAN 5 and 20 epochs, VAE) over several seeds"),
    "epoch_speed": ("epoch_speed", "lessons 01-06: seconds per epoch and images per second of each train job at full settings"),
    "backends_agree": ("backends_agree", "lessons 02-04: the TensorFlow, JAX and PyTorch steps give the same updates"),
}


def run(name: str, argv: list[str]) -> int:
    """Run benchmark ``name`` with its own command-line arguments."""
    import sys

    module = importlib.import_module(f"{__name__}.{BENCHMARKS[name][0]}")
    sys.argv[0] = f"python -m course benchmark {name}"  # what argparse names in --help
    return module.main(argv) or 0


def json_argument_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", help="also write the result as JSON to this file")
    return p


def emit(result: dict, out: str | None) -> None:
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
