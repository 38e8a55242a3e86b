"""Train jobs, one per model: each module has a ``TrainConfig`` (the recipe) and ``train(cfg, out)``.

All five are built from one skeleton (:mod:`.base`): load the data under fast mode,
build, fit resumably, save, measure, write ``metrics.json``. ``python -m course train
MODEL`` runs them; :mod:`.evaluators` trains and caches the classifiers that score
the generative models.
"""
import importlib
from types import ModuleType

#: model name -> module with ``TrainConfig`` and ``train(cfg, out, resume=, data_dir=, verbose=)``
JOBS = {"cnn": "course.jobs.cnn", "dcgan": "course.jobs.dcgan", "vae": "course.jobs.vae",
        "cyclegan": "course.jobs.cyclegan", "diffusion": "course.jobs.diffusion"}


def job_module(model: str) -> ModuleType:
    """The train-job module of ``model`` (imported on first use: each pulls in Keras and its model)."""
    return importlib.import_module(JOBS[model])
