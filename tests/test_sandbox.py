"""The grader's sandbox seen from inside: what a submission can reach, and what outlives it."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course import notebooks, sandbox

pytestmark = pytest.mark.skipif(sandbox.unavailable() is not None,
                                reason=f"no bubblewrap sandbox here: {sandbox.unavailable()}")

INSIDE = r'''
import json, os, socket, subprocess, sys, time
port, outside, work, course = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
seen = {}
try:
    socket.create_connection(("127.0.0.1", port), timeout=2)
    seen["network"] = "connected"
except OSError as err:
    seen["network"] = type(err).__name__
seen["home"] = sorted(os.listdir(os.environ["HOME"]))
seen["environment"] = sorted(os.environ)
for name, path in (("outside", outside), ("course", os.path.join(course, "x.py")), ("usr", "/usr/x"),
                   ("work", os.path.join(work, "mine.txt"))):
    try:
        with open(path, "w") as f:
            f.write("x")
        seen[name] = "written"
    except OSError as err:
        seen[name] = type(err).__name__
seen["solutions"] = os.path.exists(os.path.join(os.path.dirname(course), "solutions"))
seen["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
try:
    hog = bytearray(2 << 30)
    seen["memory"] = "allocated"
except MemoryError:
    seen["memory"] = "MemoryError"
children = []
try:
    for _ in range(100):
        children.append(subprocess.Popen(["sleep", "5"]))
    seen["fork"] = "100 started"
except OSError as err:
    seen["fork"] = f"{type(err).__name__} after {len(children)}"
for child in children:
    child.kill()
    child.wait()
# a detached process that would write a file a second after this one is gone
subprocess.Popen(["sh", "-c", f"sleep 1; echo survived > {work}/survivor"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps(seen))
'''


def test_the_sandbox_from_inside(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    outside = tmp_path / "instructor.txt"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    sandbox.prepare(work)
    limits = sandbox.Limits(memory_bytes=1 << 30, processes=64)
    course = str(sandbox.PACKAGE)
    argv = [sys.executable, "-c", INSIDE, str(listener.getsockname()[1]), str(outside), str(work), course]
    cmd = sandbox.command(argv, work, {"COURSE_FAST": "1"}, limits)
    with_secrets = {**os.environ, "COURSE_CHECKS_LOG": "/tmp/log", "SSH_AUTH_SOCK": "/tmp/agent"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=with_secrets)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    with pytest.raises(OSError):
        listener.accept()  # nothing came in
    listener.close()
    assert seen["network"] in ("ConnectionRefusedError", "OSError")  # its own loopback, where nobody listens
    assert seen["home"] == []
    assert not {"COURSE_CHECKS_LOG", "SSH_AUTH_SOCK"} & set(seen["environment"])
    assert seen["outside"] in ("PermissionError", "FileNotFoundError") and not outside.exists()
    assert seen["course"] in ("PermissionError", "OSError") and seen["usr"] in ("PermissionError", "OSError")
    assert seen["work"] == "written" and (work / "mine.txt").read_text() == "x"
    assert seen["solutions"] is False and (Path(course).parent / "solutions").is_dir()
    assert len(seen["processes"]) <= 4  # its own few; none of the grader's
    assert seen["memory"] == "MemoryError"
    assert seen["fork"].startswith(("BlockingIOError", "OSError", "PermissionError")), seen["fork"]
    time.sleep(1.5)
    assert not (work / "survivor").exists()  # the detached process died with the sandbox


def test_the_launcher_refuses_nothing_it_needs_and_keeps_solutions_out():
    paths = sandbox.python_paths()
    root = notebooks.project_root()
    assert sandbox.PACKAGE in paths and root not in paths
    assert not any((p / "solutions").exists() for p in paths)
