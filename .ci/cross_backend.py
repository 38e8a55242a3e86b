"""Models saved on one Keras backend load on another and compute the same outputs.

    KERAS_BACKEND=tensorflow python .ci/cross_backend.py save DIR
    KERAS_BACKEND=jax        python .ci/cross_backend.py check DIR

``save`` builds each family's networks from a seed, runs them on fixed inputs and writes, per
network, a ``.keras`` file, a ``.weights.h5`` file and the outputs (``.npz``). ``check`` loads
both files under the current backend (the ``.weights.h5`` into a freshly built network) and
fails when an output differs by more than 1e-4.
"""
import sys
from pathlib import Path

import keras
import numpy as np

from course.models import cnn, cyclegan, dcgan, vae


def networks() -> dict:
    """name: (a fresh network, one input for it)."""
    rng = np.random.default_rng(0)
    digits = rng.uniform(0, 1, (4, 28, 28, 1)).astype("float32")
    colour = np.repeat(digits, 3, axis=-1) * 2 - 1
    return {
        "cnn": (cnn.build_classifier((28, 28, 1), widths=(8, 16), convs=(1, 1)), digits),
        "dcgan_generator": (dcgan.build_generator((28, 28, 1)), rng.standard_normal((4, dcgan.LATENT_DIM)).astype("float32")),
        "dcgan_discriminator": (dcgan.build_discriminator((28, 28, 1)), digits * 2 - 1),
        "vae_decoder": (vae.build_decoder((28, 28, 1), 8), rng.standard_normal((4, 8)).astype("float32")),
        "cyclegan_unet": (cyclegan.build_unet_generator((28, 28, 3), width=8), colour),
        "cyclegan_patchgan": (cyclegan.build_discriminator((28, 28, 3), width=8), colour),
    }


def main(action: str, folder: str) -> int:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    failures = []
    for name, (network, x) in networks().items():
        if action == "save":
            network.save(folder / f"{name}.keras")
            network.save_weights(folder / f"{name}.weights.h5")
            np.savez(folder / f"{name}.npz", x=x, y=keras.ops.convert_to_numpy(network(x, training=False)))
            continue
        saved = np.load(folder / f"{name}.npz")
        network.load_weights(folder / f"{name}.weights.h5")
        loaded = keras.saving.load_model(folder / f"{name}.keras", compile=False)
        for how, model in (("weights.h5", network), (".keras", loaded)):
            gap = float(np.max(np.abs(keras.ops.convert_to_numpy(model(saved["x"], training=False)) - saved["y"])))
            print(f"{keras.backend.backend()}: {name} from {how}: largest output difference {gap:.2e}")
            if not gap <= 1e-4:
                failures.append(f"{name} ({how}): {gap}")
    if failures:
        print("FAIL: outputs differ after loading on", keras.backend.backend(), failures, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("save", "check"):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
