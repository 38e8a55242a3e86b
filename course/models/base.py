"""What every model family shares: noise state that travels with the weights, and batched calls."""
from __future__ import annotations

import keras
import numpy as np


class SavesNoiseState:
    """Mix into a ``keras.Model`` that owns ``keras.random.SeedGenerator`` attributes.

    Keras saves variables but not the state of seed generators, so a resumed GAN
    or VAE would replay the noise of its first epochs. With this mixin the state of
    every seed-generator attribute travels with the weights (``save_weights``,
    checkpoints) and is restored by ``load_weights``.
    """

    _NOISE_KEY = "noise_state:"

    def _noise_generators(self) -> dict:
        return {k: v for k, v in vars(self).items() if isinstance(v, keras.random.SeedGenerator)}

    def save_own_variables(self, store):
        super().save_own_variables(store)
        for name, generator in self._noise_generators().items():
            store[self._NOISE_KEY + name] = keras.ops.convert_to_numpy(generator.state)

    def load_own_variables(self, store):
        own = {}
        for key in store.keys():
            if key.startswith(self._NOISE_KEY):
                generator = self._noise_generators().get(key[len(self._NOISE_KEY):])
                if generator is not None:
                    generator.state.assign(np.asarray(store[key]))
            else:
                own[key] = store[key]
        super().load_own_variables(own)


def apply_in_batches(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """``model(x, training=False)`` batch by batch, as NumPy.

    Plain calls rather than ``model.predict``: no function is traced per model and batch
    shape, which for the few thousand images the course scores is faster and quieter.
    """
    if len(x) == 0:
        raise ValueError("no images to run the model on (the array is empty)")
    return np.concatenate([np.asarray(model(x[i: i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Full batches in ``n_images`` (GAN steps drop the last partial batch)."""
    return max(1, n_images // batch_size)
