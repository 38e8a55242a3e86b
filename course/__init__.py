"""Deep generative models in Keras 3: the tested code behind the course notebooks.

Lessons: 00_foundations, 01_cnn_classifier, 02_dcgan, 03_vae, 04_cyclegan, 05_evaluation. Each notebook shows the
code the learner is meant to read and imports the rest from here. The code runs on
Keras 3's TensorFlow (the default), JAX and PyTorch backends (``KERAS_BACKEND``).
"""
import importlib.util as _util
import os as _os


def _choose_backend() -> None:
    """Keras 3 reads its backend once, at first import: ``KERAS_BACKEND``, else ``~/.keras/keras.json``
    (which Keras itself writes, naming TensorFlow, the first time it runs). Where neither names an
    installed backend, use TensorFlow, which the lessons teach first, else JAX, else PyTorch."""
    if "KERAS_BACKEND" in _os.environ:
        return
    try:
        import json

        path = _os.path.join(_os.environ.get("KERAS_HOME", _os.path.expanduser("~/.keras")), "keras.json")
        with open(path) as f:
            configured = json.load(f).get("backend")
    except (OSError, ValueError):
        configured = None
    if configured and _util.find_spec(configured) is not None:
        return
    for name in ("tensorflow", "jax", "torch"):
        if _util.find_spec(name) is not None:
            _os.environ["KERAS_BACKEND"] = name
            return


_choose_backend()
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# GPU memory as needed, not most of the GPU at first use (TensorFlow's and JAX's default): the cached
# evaluators train in a process of their own beside a training process that already holds the GPU.
# Read when the backend first touches the GPU; a variable the learner set is kept.
for _name, _value in (("TF_FORCE_GPU_ALLOW_GROWTH", "true"), ("XLA_PYTHON_CLIENT_PREALLOCATE", "false")):
    _os.environ.setdefault(_name, _value)

from .version import __version__  # noqa: E402

__all__ = ["__version__", "show_source"]


def show_source(obj) -> None:
    """Show the source of a course function or class in a notebook.

    Lessons call this instead of copying package code into cells, so what the
    learner reads is exactly what runs.
    """
    import inspect

    source = inspect.getsource(obj)
    try:
        from IPython.display import Code, display

        display(Code(source, language="python"))
    except ImportError:  # plain Python: print it
        print(source)
