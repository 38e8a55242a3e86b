"""GPU-ready training, tested on the CPU: mixed precision and data-parallel replicas, every model.

Mixed precision: under ``mixed_float16`` each model keeps float32 outputs and scales its losses
(a ``LossScaleOptimizer`` per optimizer): a loss scale so large that the float16 gradients
overflow must skip the update and lower the scale, which only happens when the train step
really scales the loss. Replicas: one step on two replicas (TensorFlow's ``MirroredStrategy`` on
two logical CPUs, JAX's ``DataParallel`` on two host devices) must equal the same step on one
device (tests/helpers/replica_step.py says how that is arranged).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from course import data, devices
from course.jobs.base import RunConfig
from course.models import cnn, cyclegan, dcgan, vae

HELPER = Path(__file__).parent / "helpers" / "replica_step.py"


@pytest.fixture
def float16_policy():
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)


class Repeat(keras.utils.PyDataset):
    def __init__(self, batch):
        super().__init__()
        self.batch = batch

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return self.batch


def _digits(n=8):
    x, y = data.synthetic_digits(n, seed=0)
    return x, y


def _small(name):
    """``(model, batch, [(optimizer, the variables it updates)], [outputs that must be float32])``."""
    x, y = _digits()
    if name == "cnn":
        model = cnn.compile_classifier(cnn.build_classifier((28, 28, 1), widths=(8, 16), convs=(1, 1)), 10)
        return (model, (x.astype("float32") / 255.0, y.astype("int32")),
                [(model.optimizer, model.trainable_variables)], [model.output])
    if name == "dcgan":
        model = dcgan.make_dcgan((28, 28, 1), seed=0)
        return (model, data.to_symmetric(x), [(model.d_optimizer, model.discriminator.trainable_variables),
                                               (model.g_optimizer, model.generator.trainable_variables)],
                [model.generator.output, model.discriminator.output])
    if name == "vae":
        model = vae.make_vae((28, 28, 1), latent_dim=4, seed=0)
        return (model, x.astype("float32") / 255.0, [(model.optimizer, model.trainable_variables)],
                [model.decoder.output, *model.encoder.outputs])
    model = cyclegan.make_cyclegan((28, 28, 3), width=8, d_width=8, pool_size=16, seed=0)
    a = data.to_symmetric(np.repeat(x, 3, axis=-1))
    pairs = [(o, model.variables_for(o)) for o in model.optimizers]
    return model, (a, a[::-1].copy()), pairs, [model.g.output, model.f.output, model.d_a.output, model.d_b.output]


def _values(variables):
    return [keras.ops.convert_to_numpy(v.value).copy() for v in variables]


@pytest.mark.parametrize("name", ["cnn", "dcgan", "vae", "cyclegan"])
def test_mixed_float16_scales_every_loss_and_keeps_float32_outputs(name, float16_policy):
    model, batch, pairs, outputs = _small(name)
    assert all(o.dtype == "float32" for o in outputs), [o.dtype for o in outputs]
    for optimizer, variables in pairs:
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer), type(optimizer)
        if not optimizer.built:  # fit would build it at the first step
            optimizer.build(variables)
        optimizer.dynamic_scale.assign(2.0 ** 40)  # float16 gradients of any loss times this overflow
    before = [_values(v) for _, v in pairs]
    model.fit(Repeat(batch), epochs=1, verbose=0)
    for (optimizer, variables), old in zip(pairs, before):
        assert float(keras.ops.convert_to_numpy(optimizer.dynamic_scale)) < 2.0 ** 40  # lowered...
        for a, b in zip(old, _values(variables)):
            np.testing.assert_array_equal(a, b)  # ...and the overflowing update skipped
    for optimizer, _ in pairs:
        optimizer.dynamic_scale.assign(2.0 ** 8)
    model.fit(Repeat(batch), epochs=1, verbose=0)
    for (optimizer, variables), old in zip(pairs, before):
        after = _values(variables)
        assert any(not np.array_equal(a, b) for a, b in zip(old, after)), optimizer.name
        assert all(np.all(np.isfinite(v)) for v in after)


def test_training_setup_sets_the_policy_for_the_run_and_puts_it_back():
    assert keras.mixed_precision.global_policy().name == "float32"
    with devices.training_setup("mixed_bfloat16") as (policy, replicas):
        assert policy == keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        assert replicas == 1  # no GPU here
        model = dcgan.make_dcgan((28, 28, 1), seed=0)
        assert model.generator.output.dtype == "float32"
        assert not isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)  # bfloat16 needs none
    assert keras.mixed_precision.global_policy().name == "float32"


def test_auto_precision_is_float32_on_a_cpu_and_bad_choices_are_refused():
    assert devices.resolve_precision("auto") == "float32"
    with pytest.raises(Exception, match="--precision must be one of"):
        devices.resolve_precision("half")
    with pytest.raises(Exception, match="precision"):
        RunConfig(precision="fp16")
    with pytest.raises(Exception, match="--steps-per-execution must be at least 1"):
        RunConfig(steps_per_execution=0)


def test_a_run_records_its_precision_and_resumes_only_under_it(tmp_path):
    from course.errors import RunFolderError
    from course.jobs import vae as vae_job

    cfg = vae_job.TrainConfig(dataset="synthetic_digits", epochs=1, fast=True, iwae_k=2, precision="float32")
    metrics = vae_job.train(cfg, tmp_path / "run", verbose=0)
    assert metrics["precision"] == "float32" and metrics["replicas"] == 1 and metrics["backend"] == keras.backend.backend()
    other = vae_job.TrainConfig(**{**cfg.__dict__, "epochs": 2, "precision": "mixed_bfloat16"})
    with pytest.raises(RunFolderError, match="precision"):
        vae_job.train(other, tmp_path / "run", resume=True, verbose=0)
    # how fast it goes is not what it computes: steps per execution may change on resume
    faster = vae_job.TrainConfig(**{**cfg.__dict__, "epochs": 2, "steps_per_execution": 2})
    expected = 1 if keras.backend.backend() == "torch" else 2  # PyTorch runs one step per call (said, not refused)
    assert vae_job.train(faster, tmp_path / "run", resume=True, verbose=0)["steps_per_execution"] == expected


@pytest.fixture(scope="module")
def replica_report():
    if keras.backend.backend() not in ("tensorflow", "jax"):
        pytest.skip("PyTorch trains on one device in the course")
    names = ["dcgan", "vae", "cyclegan"]
    if keras.backend.backend() == "tensorflow":
        names = ["noise", "dcgan:forget", *names]
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    out = subprocess.run([sys.executable, str(HELPER), *names], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["dcgan", "vae", "cyclegan"])
def test_two_replicas_take_the_step_one_device_takes(replica_report, name):
    """The loss is divided by the replicas where their gradients are summed (TensorFlow); a global
    batch is one batch (JAX). Either way a step on two replicas is the one-device step."""
    assert replica_report["replicas"] == 2
    result = replica_report[name]
    assert result["moved"] > 1e-3, result  # the step did something...
    assert result["gap"] <= 1e-5 * max(1.0, result["moved"]), result  # ...and the same thing


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="only TensorFlow replicas sum gradients")
def test_the_comparison_catches_a_step_that_forgets_the_replicas(replica_report):
    result = replica_report["dcgan:forget"]
    assert result["gap"] > 0.5 * result["moved"] > 0, result


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="per-replica draws are TensorFlow's")
def test_each_replica_draws_its_own_noise_from_one_generator(replica_report):
    noise = replica_report["noise"]
    assert noise["differ"] and noise["finite"]
    assert noise["state_as_one_draw"]  # the generator moves on as on one device: checkpoints agree


def test_without_a_gpu_each_lesson_says_what_its_full_settings_take_on_a_cpu():
    assert set(devices.CPU_MINUTES) >= {"01", "02", "03", "04"}
    report = devices.environment_report("04")
    assert f"about {devices.CPU_MINUTES['04']:.0f} minutes" in report and "COURSE_FAST=1" in report
    assert "minutes" not in devices.environment_report(None)  # no lesson: no estimate


MULTIWORKER = Path(__file__).parent / "helpers" / "multiworker_step.py"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TF_CONFIG workers are TensorFlow's")
def test_two_workers_on_the_loopback_address_train_as_one_and_only_the_chief_writes(tmp_path):
    """Two processes, ``TF_CONFIG`` naming two local ports, ``MultiWorkerMirroredStrategy``: one DCGAN
    step through the course's run machinery. Only the chief (worker 0) writes the run folder; the
    other worker trains in a scratch folder that is gone afterwards; both end with the same weights,
    equal to one process taking the same global batch."""
    out, results = tmp_path / "run", tmp_path / "results"
    results.mkdir()
    ports = [str(_free_port()), str(_free_port())]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env.pop("TF_CONFIG", None)
    workers = [subprocess.Popen([sys.executable, str(MULTIWORKER), str(out), str(results), str(i), *ports],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i in (0, 1)]
    reports = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr[-3000:]
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    single = subprocess.run([sys.executable, str(MULTIWORKER), str(tmp_path / "single"), str(results), "single"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert single.returncode == 0, single.stderr[-3000:]
    chief, worker = reports
    assert chief["chief"] and not worker["chief"] and chief["replicas"] == worker["replicas"] == 2
    assert chief["wrote"] == str(out) and worker["wrote"] != str(out) and not Path(worker["wrote"]).exists()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-0001.weights.h5", "state.json"]
    assert not list(out.glob(".*tmp*")) and not list(out.glob("*.tmp"))
    loaded = [np.load(results / f"weights-{name}.npz") for name in ("0", "1", "single", "start")]
    keys = list(loaded[0].keys())
    gap = lambda a, b: max(float(np.max(np.abs(a[k] - b[k]))) for k in keys)  # noqa: E731
    assert gap(loaded[0], loaded[1]) == 0.0  # the workers agree
    moved = gap(loaded[2], loaded[3])
    assert moved > 1e-3 and gap(loaded[0], loaded[2]) < 1e-4 * max(1.0, moved)
