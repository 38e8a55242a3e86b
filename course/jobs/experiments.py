"""Measurements that lessons quote: ``python -m course benchmark NAME`` runs them (Colab too).

Each returns plain data (JSON-ready) and says what it ran on: the data, n, the seeds. The
course's results registry (``results/``) records the command and the figures it printed.
"""
from __future__ import annotations

import time

import numpy as np

from .. import config, data, metrics
from ..evaluation import GameMonitor, classifier_features
from ..models import dcgan
from .evaluators import evaluator

#: "When GANs fail" (02_dcgan): D's learning rate per setting; G always learns at 2e-4.
D_SPEEDS = {"balanced": 2e-4, "D 10x faster": 2e-3}
G_LOSSES = ("non_saturating", "minimax")


def train_failure(x_train: np.ndarray, *, g_loss: str, d_learning_rate: float, steps: int, seed: int,
                  batch_size: int = 64, latent_dim: int = dcgan.LATENT_DIM, every: int = 10, verbose: int = 0):
    """One DCGAN trained for exactly ``steps`` steps with G at 2e-4 and D at ``d_learning_rate``
    (Adam, beta_1 = 0.5), watched by a :class:`course.evaluation.GameMonitor`; returns
    ``(gan, monitor)``. Taught in 02_dcgan, When GANs fail."""
    import keras

    config.seed_everything(seed)
    rng = np.random.default_rng(seed)
    needed = steps * batch_size  # the training images, repeated as needed: exactly `steps` batches
    order = np.concatenate([rng.permutation(len(x_train)) for _ in range(-(-needed // len(x_train)))])[:needed]
    ds = data.pipeline(x_train[order], batch_size=batch_size, shuffle=False, scale="symmetric", drop_remainder=True)
    image_shape = x_train.shape[1:]
    gan = dcgan.make_dcgan(image_shape, latent_dim, seed=seed, g_loss=g_loss)
    gan.compile(d_optimizer=keras.optimizers.Adam(d_learning_rate, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), g_loss=g_loss)
    probe = data.pipeline(x_train[:batch_size], batch_size=batch_size, scale="symmetric")
    monitor = GameMonitor(next(iter(probe)), dcgan.fixed_noise(64, latent_dim, seed=5), every=every)
    gan.fit(ds, epochs=1, callbacks=[monitor], verbose=verbose)
    return gan, monitor


def second_half(monitor: GameMonitor, key: str) -> float:
    """The mean of one monitored quantity over the second half of the run."""
    steps, values = monitor.series(key)
    return float(values[steps >= steps[-1] / 2].mean())


def gan_failures(seeds=(0, 1, 2), steps: int = 300, n: int = 2000, fast: bool | None = None, data_dir=None,
                 speeds=tuple(D_SPEEDS), losses=G_LOSSES, verbose: int = 0) -> dict:
    """02_dcgan's "When GANs fail", measured: for each D speed and G loss, ``len(seeds)`` DCGANs
    trained ``steps`` steps on MNIST, each scored on ``n`` samples against ``n`` real test images
    (classifier-feature Fréchet distance, precision and recall, the largest class share), with
    D(G(z)) and G's gradient norm over the second half of the run. Returns the per-seed rows and,
    per setting, the mean and the spread (standard deviation) over seeds."""
    fast = config.fast_mode() if fast is None else fast
    loaded = data.load("mnist", data_dir=data_dir)
    (x_train, _), (x_test, _) = loaded
    if fast:
        x_train, x_test = x_train[: config.FAST["dcgan"].train_examples], x_test[: 2 * n]
    judge = evaluator("mnist", fast=fast, data_dir=data_dir)
    n = min(n, len(x_test) // 2)
    real_features, _ = classifier_features(judge, x_test[:n])
    floor = metrics.frechet_distance(classifier_features(judge, x_test[n: 2 * n])[0], real_features)
    rows, started = [], time.time()
    for speed in speeds:
        for loss in losses:
            for seed in seeds:
                gan, monitor = train_failure(x_train, g_loss=loss, d_learning_rate=D_SPEEDS[speed], steps=steps,
                                             seed=seed, verbose=verbose)
                features, classes = classifier_features(judge, dcgan.sample(gan.generator, n, seed=seed))
                histogram = metrics.class_histogram(classes, loaded.class_names)
                pr = metrics.precision_recall(real_features, features)
                rows.append({"setting": speed, "g_loss": loss, "seed": int(seed),
                             "fd": round(metrics.frechet_distance(features, real_features), 2),
                             "precision": round(pr["precision"], 3), "recall": round(pr["recall"], 3),
                             "top_class_share": round(max(histogram.values()), 3),
                             "class_histogram": {k: round(v, 3) for k, v in histogram.items()},
                             "D(G(z))": round(second_half(monitor, "D(G(z))"), 4),
                             "G_gradient_norm": round(second_half(monitor, "G gradient norm"), 4)})
                if verbose:
                    print({k: v for k, v in rows[-1].items() if k != "class_histogram"}, flush=True)
    summary = {}
    for speed in speeds:
        for loss in losses:
            mine = [r for r in rows if r["setting"] == speed and r["g_loss"] == loss]
            summary[f"{speed}, {loss}"] = {
                key: {"mean": round(float(np.mean([r[key] for r in mine])), 4),
                      "std": round(float(np.std([r[key] for r in mine])), 4),
                      "min": float(min(r[key] for r in mine)), "max": float(max(r[key] for r in mine))}
                for key in ("fd", "precision", "recall", "top_class_share", "D(G(z))", "G_gradient_norm")}
    return {"data": f"MNIST, {len(x_train)} training images{' (fast mode)' if fast else ''}; "
                    f"scored on {n} samples vs {n} real test images",
            "n": n, "steps": steps, "seeds": [int(s) for s in seeds], "fd_floor": round(floor, 2),
            "evaluator": "fast" if fast else "full", "seconds": round(time.time() - started, 1),
            "summary": summary, "rows": rows}


def bn_momentum(momenta=(0.99, 0.9), seeds=(0, 1, 2), train_examples: int = 3000, epochs: int = 2,
                batch_size: int = 64, data_dir=None) -> dict:
    """01_cnn_classifier, Common mistakes: BatchNorm's momentum in a short run. For each momentum and
    seed, the lesson's MNIST classifier trained ``epochs`` epochs on 90% of the first
    ``train_examples`` training images (10% held out, as the lesson does), then scored on its
    last training batch statistics (training accuracy, from the history) and on the full test set."""
    from ..models import cnn

    loaded = data.load("mnist", data_dir=data_dir)
    (x_train, y_train), (x_test, y_test) = loaded
    x_train, y_train = x_train[:train_examples], y_train[:train_examples]
    test_ds = data.pipeline(x_test, y_test, batch_size=512)
    rows = []
    for momentum in momenta:
        for seed in seeds:
            config.seed_everything(seed)
            (x_fit, y_fit), _ = data.split(x_train, y_train, fraction=0.1, seed=seed)
            model = cnn.classifier_for("mnist", augment="none", bn_momentum=momentum)  # as the record was measured
            cnn.compile_classifier(model, total_steps=epochs * int(np.ceil(len(x_fit) / batch_size)))
            history = model.fit(data.pipeline(x_fit, y_fit, batch_size=batch_size, shuffle=True, seed=seed),
                                epochs=epochs, verbose=0)
            _, test_accuracy = model.evaluate(test_ds, verbose=0)
            rows.append({"momentum": momentum, "seed": int(seed), "train_accuracy": round(float(history.history["accuracy"][-1]), 4),
                         "test_accuracy": round(float(test_accuracy), 4)})
    summary = {str(m): {key: {"mean": round(float(np.mean([r[key] for r in rows if r["momentum"] == m])), 4),
                              "min": min(r[key] for r in rows if r["momentum"] == m),
                              "max": max(r[key] for r in rows if r["momentum"] == m)}
                        for key in ("train_accuracy", "test_accuracy")} for m in momenta}
    return {"data": f"MNIST: {len(x_fit)} of the first {train_examples} training images (10% held out), "
                    f"the full {len(x_test)}-image test set", "epochs": epochs, "batch_size": batch_size,
            "seeds": [int(s) for s in seeds], "summary": summary, "rows": rows}
