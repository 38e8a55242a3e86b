"""One DCGAN train step on two TensorFlow workers (two processes, ``MultiWorkerMirroredStrategy`` over
the loopback address) against the same global batch on one process (run by tests/test_distribution.py).

    python tests/helpers/multiworker_step.py OUT RESULTS INDEX PORT0 PORT1   # worker INDEX of two
    python tests/helpers/multiworker_step.py OUT RESULTS single             # one process

Each process trains through the course's run machinery (``runs.writable_run`` + ``fit_resumable``,
as ``python -m course train`` does) into the run folder ``OUT`` and writes its final weights to
``RESULTS/weights-INDEX.npz`` plus one JSON line: whether it is the chief and which folder it wrote.
Noise and optimizer are arranged as in replica_step.py (the same noise for the same example on
every worker, plain SGD), so the two-worker step equals the one-process step exactly when the
workers' gradients are combined as a mean over the global batch.
"""
import json
import os
import sys
from pathlib import Path

out, results, index = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
if index != "single":
    ports = sys.argv[4:6]
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                          "task": {"type": "worker", "index": int(index)}})
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import replica_step  # noqa: E402

from course import devices, runs  # noqa: E402


class GlobalBatch(keras.utils.PyDataset):
    """One global batch ``[x, x]`` (each of two replicas sees ``x``)."""

    def __init__(self, x):
        super().__init__()
        self.x = x

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return np.concatenate([self.x, self.x])


def main():
    replica_step._patch_noise()
    with devices.training_setup("float32") as (_, replicas):
        keras.utils.set_random_seed(0)
        model, (x,) = replica_step.build("dcgan")
        if index == "single":
            np.savez(results / "weights-start.npz", *[np.asarray(w) for w in model.get_weights()])
        chief = devices.is_chief()
        with runs.writable_run(out, chief) as run:
            runs.fit_resumable(model, GlobalBatch(x), epochs=1, run=run, resume=True, verbose=0)
            wrote = str(run.path)
        np.savez(results / f"weights-{index}.npz", *[np.asarray(w) for w in model.get_weights()])
    print(json.dumps({"index": index, "chief": chief, "replicas": replicas, "wrote": wrote,
                      "scratch_left": Path(wrote).exists() and not chief}))


if __name__ == "__main__":
    main()
