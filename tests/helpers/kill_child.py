"""A small training run that SIGKILLs itself at a chosen file rename: python kill_child.py RUN_DIR [KILL_AT].

Used by tests/test_runs.py. The run is the course's CNN with flip augmentation and dropout
(random generators that must resume), on a shuffled course pipeline, 3 epochs. Each
checkpoint renames three files (weights, state.json, history.csv); run.json is renamed once
at the start. ``KILL_AT = n`` kills the process right after the n-th rename; ``-n`` right
before it (the temporary file is then complete but not yet in place).
"""
import os
import signal
import sys

import keras
import numpy as np

from course import data, runs
from course.models import cnn

run_dir = sys.argv[1]
kill_at = int(sys.argv[2]) if len(sys.argv) > 2 else 0
renames = {"n": 0}
real_replace = os.replace


def replace(src, dst):
    renames["n"] += 1
    if kill_at == -renames["n"]:
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
    if kill_at == renames["n"]:
        os.kill(os.getpid(), signal.SIGKILL)


os.replace = replace
keras.utils.set_random_seed(0)
x, y = data.synthetic_digits(256, seed=0)
model = cnn.build_classifier((28, 28, 1), 10, widths=(8, 16), convs=(1, 1), dropout=0.3, augment="flip")
cnn.compile_classifier(model, total_steps=3 * 8)
ds = data.pipeline(x, y, batch_size=32, shuffle=True, seed=0)
runs.fit_resumable(model, ds, epochs=3, run=run_dir, settings={"recipe": "kill-child"}, verbose=0)
np.save(os.path.join(run_dir, "final.npy"), np.concatenate([w.ravel() for w in model.get_weights()]))
print("finished")
