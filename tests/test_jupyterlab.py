"""A learner on their own machine: JupyterLab starts as the README says, and lesson 01 runs in it.

Starts `jupyter lab` on the loopback address (no browser), opens a kernel through the server's
REST API, sends the first code cells of the student copy of lesson 01 over the kernel's
websocket (as the browser does) up to the environment report, checks what they print, and
shuts the server down through its API.
"""
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

pytest.importorskip("jupyterlab", reason="JupyterLab comes with requirements.txt (or the [lab] extra)")
tornado_websocket = pytest.importorskip("tornado.websocket")

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "01_cnn_classifier.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base, token, path, method="GET", body=None):
    request = urllib.request.Request(f"{base}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    return json.loads(text) if text else None


def _first_cells() -> list[str]:
    """The code cells of lesson 01 up to the one that prints the environment report."""
    cells = []
    for cell in json.loads(LESSON.read_text())["cells"]:
        if cell["cell_type"] == "code":
            cells.append("".join(cell["source"]))
            if "environment_report" in cells[-1]:
                return cells
    raise AssertionError("lesson 01 has no environment report cell")


async def _run_cells(url: str, cells: list[str]) -> list[dict]:
    """Execute each cell on the kernel's websocket; per cell, its stdout and error (if any)."""
    connection = await tornado_websocket.websocket_connect(url)
    session, results = uuid.uuid4().hex, []
    try:
        for code in cells:
            msg_id = uuid.uuid4().hex
            await connection.write_message(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": session,
                           "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            out, error, done = [], None, False
            while not done:
                message = await asyncio.wait_for(connection.read_message(), timeout=300)
                if message is None:
                    raise AssertionError("the kernel's websocket closed")
                message = json.loads(message)
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = message["msg_type"]
                if kind == "stream":
                    out.append(message["content"]["text"])
                elif kind == "error":
                    error = f"{message['content']['ename']}: {message['content']['evalue']}"
                elif kind == "status" and message["content"]["execution_state"] == "idle":
                    done = True
            results.append({"stdout": "".join(out), "error": error})
    finally:
        connection.close()
    return results


def test_jupyterlab_starts_runs_the_first_cells_of_lesson_01_and_shuts_down(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    # what the README's command runs, on loopback, without a browser, with a token of its own
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
                               f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}"]
                              + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                status = _api(base, token, "/api/status")
                break
            except OSError:
                if server.poll() is not None:
                    raise AssertionError(f"jupyter lab exited: {server.stdout.read()[-3000:]}")
                time.sleep(0.5)
        else:
            raise AssertionError("jupyter lab did not answer within a minute")
        assert "started" in status
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=30) as page:
            assert page.status == 200 and b"JupyterLab" in page.read()  # the application a browser opens
        listing = _api(base, token, "/api/contents/notebooks")
        assert LESSON.name in {item["name"] for item in listing["content"]}
        kernel = _api(base, token, "/api/kernels", method="POST", body={"name": "python3"})
        results = asyncio.run(_run_cells(f"ws://127.0.0.1:{port}/api/kernels/{kernel['id']}/channels?token={token}",
                                         _first_cells()))
        assert [r["error"] for r in results] == [None] * len(results), results
        report = results[-1]["stdout"]
        from course.version import __version__

        assert f"course {__version__}" in report and "device:" in report, report
        _api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
        _api(base, token, "/api/shutdown", method="POST")
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
