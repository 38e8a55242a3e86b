"""Grade a folder of submitted student notebooks: ``python -m course grade SUBMISSIONS/``.

A submission is code a student wrote, run on the instructor's machine; the grader treats it as hostile.
Each submission is

1. **read and compared with the student copy it was handed out as** (built from ``solutions/`` of the
   course at ``--root``). Outside the exercise answers nothing may change: a changed, deleted, moved
   or added code cell, a missing or duplicated cell id, a changed stamped line, or an answer that
   reaches into the checks, the course's own code, the solutions, ``/proc``, the environment or the
   interpreter's internals is *flagged*: reported, never counted as passed;
2. **run top to bottom in a fresh kernel inside a sandbox** (:mod:`course.sandbox`: no network, the
   system and the course read-only, a private empty home, limits on memory, processes, CPU and file
   size, every process ended afterwards), in fast mode, under one wall-clock limit for the whole
   submission. The grader talks to the kernel over Unix sockets in the submission's own folder;
3. **judged outside the kernel**: when an exercise cell's answer has run, and before its self-check
   line runs, the grader calls the course's check (strict cases on) in its own process with a
   stand-in for the learner's function. The stand-in sends the arguments to the kernel as plain data
   (JSON, NumPy ``.npy`` without pickle) and gets plain data back, so the verdict is computed by the
   instructor's code on the learner's answers, and nothing the kernel writes is taken as a verdict.
   An answer that is not plain data (a Keras model, a training object) is reported ``unverified``;
4. **reported**, one row per exercise: passed / wrong (with the hint) / not done / not reached /
   unverified; every file gets a row, a file that is not a notebook of a known lesson included.

Taught in the README's "Grading a class" section.
"""
from __future__ import annotations

import ast
import base64
import contextlib
import csv
import functools
import inspect
import io
import json
import os
import queue
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from . import notebooks, sandbox
from .errors import CourseError

PLACEHOLDER = "raise NotImplementedError()"
_CHECK_CALL = re.compile(r"checks\.(check_\w+)\(")
_CHECK_LINE = re.compile(r"^(?P<lhs>[\w, ]+?)\s*=\s*checks\.(?P<check>check_\w+)\((?P<args>[\w, ]*)\)", re.M)
_MAX_FILE = 50 << 20  # a submission larger than this is not read
_MAX_OUTPUT = 64 << 20  # what a kernel may send back in all
_MAX_MESSAGE = 8 << 20  # and in one message
_MARKER = "\x1ecourse-grader-reply:"
RESULTS = ("passed", "wrong", "not done", "not reached", "unverified")

#: What an answer has no business touching, by what it reaches: names (whole tokens), then text in strings.
_REACHES = {
    "the self-checks": {"checks", "RESULTS", "_record", "_run", "scoreboard", "COURSE_CHECKS"},
    "the course's own code": {"course", "foundations"},
    "the solutions": {"solutions", "__file__", "__loader__", "__spec__", "__path__"},
    "the grader's environment": {"environ", "getenv", "putenv", "argv", "subprocess", "system", "popen"},
    "the interpreter's internals": {
        "sys.modules", "_getframe", "settrace", "setprofile", "meta_path", "sys.path", "get_ipython", "IPython",
        "ipykernel", "gc", "inspect", "ctypes", "importlib", "__import__", "builtins", "__builtins__", "globals",
        "locals", "vars", "eval", "exec", "compile", "getattr", "setattr", "delattr", "__globals__", "__code__",
        "__closure__", "__dict__", "__subclasses__", "__class__", "__bases__", "__mro__", "f_back", "f_globals",
        "f_locals", "tb_frame", "gi_frame", "atexit", "threading", "signal", "__reduce__", "pickle", "marshal"},
}
_IN_STRINGS = re.compile(r"solutions|/proc|checks|foundations|course|COURSE_|\.ipynb|grades|__", re.I)


# --------------------------------------------------------------------------- the submission as data


@dataclass
class Row:
    submission: str
    exercise: str
    title: str
    result: str  # passed, wrong, not done, not reached, unverified; or for the file: not a notebook, ...
    detail: str = ""
    flags: str = ""
    sandbox: str = "yes"


@dataclass
class Submission:
    name: str
    lesson: str
    flags: list[str] = field(default_factory=list)
    failed_at: str = ""
    rows: list[Row] = field(default_factory=list)


class Malformed(ValueError):
    """The file is not a notebook the grader can read."""


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def load(text: str) -> dict:
    """A submitted notebook, checked for shape: a dict with a list of cells, each a dict with a known
    type, a text source and (when present) a text id. Raises :class:`Malformed` saying what is wrong."""
    try:
        nb = json.loads(text)
    except ValueError as err:
        raise Malformed(f"not JSON ({err})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise Malformed("not a Jupyter notebook (no list of cells)")
    if not nb["cells"]:
        raise Malformed("a notebook with no cells")
    for number, cell in enumerate(nb["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise Malformed(f"cell {number} is not a notebook cell")
        source = cell.get("source", "")
        if not (isinstance(source, str) or (isinstance(source, list) and all(isinstance(s, str) for s in source))):
            raise Malformed(f"cell {number}'s source is not text")
        if "id" in cell and not isinstance(cell["id"], str):
            raise Malformed(f"cell {number}'s id is not text")
    return nb


def _normalise(source: str) -> str:
    """The cell with its stamped address literals (only valid ones, on their own lines) replaced, so that
    copies built for another fork or release compare equal and anything else on those lines does not; and
    without its generated cost line, which a re-measured speed changes (a student may delete it too)."""
    return notebooks.without_costs(notebooks.unstamp(source)).rstrip()


def reference(root: Path, lesson: str) -> dict:
    """The student copy of ``lesson`` as ``notebooks build`` makes it from ``root/solutions``."""
    matches = sorted((root / "solutions").glob(f"{lesson}*.ipynb"))
    if len(matches) != 1:
        known = ", ".join(p.stem for p in sorted((root / "solutions").glob("*.ipynb"))) or "none"
        raise CourseError(f"no single lesson matches {lesson!r} in {root / 'solutions'} (lessons: {known}); "
                          "name it with --lesson, e.g. --lesson 02, or point --root at the course.")
    return notebooks.student_version(notebooks.read(matches[0]))


def _checks():
    from . import checks  # Keras and the backend: imported only when a class is graded

    return checks


def exercises(student: dict) -> list[tuple[str, str]]:
    """``(exercise id, title)`` of each self-check the student copy calls, in order."""
    found = []
    for cell in student["cells"]:
        for name in _CHECK_CALL.findall(_source(cell)):
            exercise, title, _ = check_info(name)
            if exercise and (exercise, title) not in found:
                found.append((exercise, title))
    return found


@dataclass
class Exercise:
    """An exercise cell of the student copy: its fixed text around the answers, and its self-check."""

    pattern: re.Pattern  # the fixed text, each answer a group
    tail: str  # the fixed text after the last answer, up to the self-check line
    rest: str  # the self-check line and what follows it
    check: str  # the name of the check in course.checks
    args: list[str]  # the names the check line passes


def _exercise(source: str) -> Exercise | None:
    source = source.rstrip()
    if PLACEHOLDER not in source:
        return None
    parts = source.split(PLACEHOLDER)
    line = _CHECK_LINE.search(parts[-1])
    if not line:
        return None
    pattern = re.compile("".join(re.escape(p) + "(.*?)" for p in parts[:-1]) + re.escape(parts[-1]) + r"\Z", re.S)
    return Exercise(pattern, parts[-1][: line.start()], parts[-1][line.start():], line.group("check"),
                    [a.strip() for a in line.group("args").split(",") if a.strip()])


def screen(answer: str, references: frozenset[str] = frozenset()) -> list[str]:
    """What ``answer`` (an exercise answer's code) reaches that it has no business touching, one phrase each.

    Names are read as whole tokens (comments skipped); strings are searched for paths and names of the
    course. Shell and magic lines (``!``, ``%``) count as the grader's environment."""
    names, strings = [], []
    lines = answer.splitlines()
    shell = [line for line in lines if line.lstrip().startswith(("!", "%"))]
    code = "\n".join(line for line in lines if not line.lstrip().startswith(("!", "%")))
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code + "\n").readline))
        previous = None
        for token in tokens:
            if token.type == tokenize.NAME:
                names.append(token.string)
                if previous is not None:
                    names.append(f"{previous}.{token.string}")
                previous = token.string
                continue
            if token.type == tokenize.STRING or token.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
                strings.append(token.string)
            if not (token.type == tokenize.OP and token.string == "."):
                previous = None
    except (tokenize.TokenError, SyntaxError, IndentationError):
        names, strings = re.findall(r"[A-Za-z_][\w.]*", code), [code]
        names += [n.split(".")[-1] for n in names] + [".".join(n.split(".")[:2]) for n in names]
    found = []
    for what, bad in {**_REACHES, "the course's own code": _REACHES["the course's own code"] | set(references)}.items():
        hits = sorted({n for n in names if n in bad})
        if hits:
            found.append(f"{what} ({', '.join(hits)})")
    text = sorted({m.group(0) for s in strings for m in _IN_STRINGS.finditer(s)})
    if text:
        found.append(f"names of the course in strings ({', '.join(text)})")
    if shell:
        found.append(f"the grader's environment (shell or magic line {shell[0].strip()[:40]!r})")
    return found


@functools.lru_cache(maxsize=None)
def check_info(check: str) -> tuple[str, str, frozenset[str]]:
    """``(exercise id, title, reference names)`` of the check named ``check``, read from the checks' source
    without importing them: the id and title its ``_run`` call records, and the names of the course's own
    answer it hands back as the fallback (``foundations.linear_regression``, ``_instance_normalise``)."""
    tree = ast.parse((Path(__file__).with_name("checks.py")).read_text(encoding="utf-8"))
    function = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == check), None)
    calls = [n for n in ast.walk(function) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "_run"] \
        if function else []
    exercise = title = ""
    names = set()
    for call in calls:
        if len(call.args) >= 2 and all(isinstance(a, ast.Constant) for a in call.args[:2]):
            exercise, title = str(call.args[0].value), str(call.args[1].value)
        fallback = call.args[4] if len(call.args) > 4 else next((k.value for k in call.keywords if k.arg == "fallback"),
                                                                None)
        for node in ast.walk(fallback) if fallback is not None else ():
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id not in (
                    "np", "ops", "keras", "layers", "tf"):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and node.id.startswith("_"):
                names.add(node.id)
    return exercise, title, frozenset(names)


def tampering(submitted: dict, student: dict, lesson: str = "") -> list[str]:
    """What in ``submitted`` differs from the student copy outside the exercise answers, and answers
    that reach where they should not."""
    flags = []
    cells = submitted.get("cells", [])
    ids = [cell.get("id") for cell in cells]
    for number, cid in enumerate(ids, start=1):
        if not cid:
            flags.append(f"cell {number} has no id")
    for cid in sorted({c for c in ids if c and ids.count(c) > 1}):
        flags.append(f"cell id {cid!r} is used {ids.count(cid)} times")
    given = {}
    for cell in cells:
        given.setdefault(cell.get("id"), cell)
    known = {cell.get("id") for cell in student["cells"]}
    order = []
    for position, cell in enumerate(student["cells"], start=1):
        where = f"cell {position} ({cell.get('id')})"
        got = given.get(cell.get("id"))
        if got is None:
            flags.append(f"{where} deleted")
            continue
        order.append(cell.get("id"))
        ref, text = _normalise(_source(cell)), _normalise(_source(got))
        if got.get("cell_type") != cell.get("cell_type"):
            flags.append(f"{where} changed from {cell.get('cell_type')} to {got.get('cell_type')}")
            continue
        exercise = _exercise(_source(cell)) if cell.get("cell_type") == "code" else None
        if exercise is None:
            if text != ref:
                flags.append(f"{where} changed")
            continue
        match = exercise.pattern.match(_source(got).rstrip())
        if not match:
            flags.append(f"{where}: the exercise's definition or self-check line changed")
            continue
        reaches = screen("\n".join(match.groups()), check_info(exercise.check)[2])
        if reaches:
            flags.append(f"{where}: the answer reaches into {'; '.join(reaches)}")
    submitted_order = [cid for cid in dict.fromkeys(ids) if cid in known]
    if submitted_order != order:
        flags.append("cells were moved")
    for cell in cells:
        if cell.get("id") not in known and cell.get("cell_type") == "code" and _source(cell).strip():
            flags.append(f"a code cell was added ({cell.get('id')})")
    return flags


# --------------------------------------------------------------------------- the kernel in its sandbox


class Stopped(BaseException):
    """The submission ran out of time, its kernel died, or it sent too much: stop it (not an answer's error,
    so the checks' ``except Exception`` lets it through)."""


class Kernel:
    """One submission's IPython kernel, inside :mod:`course.sandbox` unless ``sandboxed`` is False, driven
    from here over Unix sockets in ``work`` (the kernel has no network to reach the grader by)."""

    def __init__(self, work: Path, sandboxed: bool, limits: sandbox.Limits, env: dict[str, str],
                 readonly: list[Path]):
        import zmq
        from jupyter_client import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        self.work, self.sent = work, 0
        (work / "sockets").mkdir()
        conn, _ = write_connection_file(fname=str(work / "sockets" / "kernel.json"), ip=str(work / "sockets" / "k"),
                                        transport="ipc", key=secrets.token_hex(32).encode(), kernel_name="python3")
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", conn, "--HistoryManager.enabled=False"]
        if sandboxed:
            sandbox.prepare(work)
            cmd, environ = sandbox.command(argv, work, env, limits, readonly), {"PATH": os.environ.get("PATH", "")}
        else:
            home = work / "home"
            home.mkdir()
            cmd, environ = sandbox.plain(argv, {**env, "HOME": str(home), "COURSE_HOME": str(home / ".course")},
                                         limits)
            environ.pop("COURSE_CHECKS_LOG", None)
        self.context = zmq.Context()
        # What the kernel can make the grader hold: a bigger message drops the connection; few are queued;
        # a dropped connection is not made again (the kernel could have put another socket at that path by then).
        self.context.setsockopt(zmq.MAXMSGSIZE, _MAX_MESSAGE)
        self.context.setsockopt(zmq.RCVHWM, 64)
        self.context.setsockopt(zmq.RECONNECT_IVL, -1)
        self.client = BlockingKernelClient(context=self.context)
        self.client.load_connection_file(conn)
        self.sockets = [Path(f"{work / 'sockets' / 'k'}-{self.client.get_connection_info()[f'{kind}_port']}")
                        for kind in ("shell", "iopub", "stdin", "control", "hb")]
        self.log = open(work.parent / f"{work.name}.log", "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=environ, cwd=work, start_new_session=True)

    def start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(p.exists() for p in self.sockets):  # the kernel binds them before it runs any cell
            if self.proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for path in self.sockets:
            if path.exists() and not stat.S_ISSOCK(path.lstat().st_mode):
                raise Stopped(f"{path.name} is not the kernel's socket")
        self.client.start_channels()
        while True:
            if self.proc.poll() is not None:
                self.log.flush()
                tail = (self.work.parent / f"{self.work.name}.log").read_bytes()[-400:].decode(errors="replace")
                raise Stopped(f"the kernel did not start (exit status {self.proc.returncode}): {tail.strip()}")
            try:
                self.client.wait_for_ready(timeout=min(2.0, max(0.1, deadline - time.monotonic())))
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise Stopped(f"the kernel did not start within {timeout:g} s") from None

    def execute(self, code: str, deadline: float, limit: float, silent: bool = False) -> tuple[dict | None, str]:
        """Run ``code`` (``silent``: the grader's own, out of the history and the notebook's hooks); returns
        (the error's ``{ename, evalue}`` or None, what it printed)."""
        msg_id = self.client.execute(code, silent=silent, store_history=not silent, allow_stdin=False,
                                     stop_on_error=True)
        printed, error = [], None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Stopped(f"still running after {limit:g} s, stopped")
            if self.proc.poll() is not None:
                raise Stopped("the kernel died (a limit was reached, or it was ended)")
            try:
                msg = self.client.get_iopub_msg(timeout=min(1.0, left))
            except queue.Empty:
                continue
            kind, content = msg.get("msg_type"), msg.get("content", {})
            self.sent += sum(len(str(v)) for v in content.values()) if isinstance(content, dict) else 0
            if self.sent > _MAX_OUTPUT:
                raise Stopped(f"sent more than {_MAX_OUTPUT >> 20} MiB of output, stopped")
            if msg.get("parent_header", {}).get("msg_id") != msg_id or not isinstance(content, dict):
                continue
            if kind == "stream" and content.get("name") == "stdout":
                printed.append(str(content.get("text", "")))
            elif kind == "error":
                error = {"ename": str(content.get("ename", "error")), "evalue": str(content.get("evalue", ""))}
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        while True:  # the reply: an error that printed nothing on iopub still shows here
            left = deadline - time.monotonic()
            try:
                reply = self.client.get_shell_msg(timeout=max(0.5, min(5.0, left)))
            except queue.Empty:
                break
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                content = reply.get("content", {})
                if content.get("status") == "error" and error is None:
                    error = {"ename": str(content.get("ename", "error")), "evalue": str(content.get("evalue", ""))}
                elif content.get("status") == "aborted" and error is None:
                    error = {"ename": "aborted", "evalue": ""}
                break
        return error, "".join(printed)

    def stop(self) -> None:
        """End the kernel and, with the sandbox's first process, every process in the sandbox."""
        with contextlib.suppress(Exception):
            self.client.stop_channels()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 9)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        self.log.close()
        self.context.destroy(linger=0)


# --------------------------------------------------------------------------- plain data across the boundary


def _encode(value):
    """A value as JSON-able plain data; NumPy arrays as ``.npy`` without pickle. Raises TypeError otherwise.

    Self-contained (imports inside, recursion by its own name): its source is also what the kernel runs
    (:func:`_call_source`), so the grader and the kernel encode the same way from one definition."""
    import base64
    import io

    import numpy as np

    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if isinstance(value, (tuple, list)):
        return {type(value).__name__: [_encode(v) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v) for k, v in value.items()}}
    if isinstance(value, np.generic) or (hasattr(value, "shape") and hasattr(value, "dtype")):
        if not isinstance(value, (np.ndarray, np.generic)):
            from keras import ops

            value = ops.convert_to_numpy(value)
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise TypeError("an array of Python objects")
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return {"ndarray": base64.b64encode(buffer.getvalue()).decode()}
    raise TypeError("a " + type(value).__name__)


def _decode(data):
    import numpy as np

    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError("not plain data")
    (kind, value), = data.items()
    if kind == "value" and (value is None or isinstance(value, (bool, int, float, str))):
        return value
    if kind in ("tuple", "list") and isinstance(value, list):
        items = [_decode(v) for v in value]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict" and isinstance(value, dict):
        return {str(k): _decode(v) for k, v in value.items()}
    if kind == "ndarray" and isinstance(value, str):
        return np.load(io.BytesIO(base64.b64decode(value, validate=True)), allow_pickle=False)
    raise ValueError("not plain data")


#: Runs in the kernel: calls the learner's function on plain data, prints plain data back. It carries
#: its own decoder and the grader's own encoder (its source, inserted), so that nothing of the kernel's
#: state is trusted to do it.
_CALL_TEMPLATE = '''
def __course_grader_call(namespace, name, request):
    import base64, io, json
    import numpy as np
    def decode(data):
        (kind, value), = data.items()
        if kind == "value":
            return value
        if kind in ("tuple", "list"):
            items = [decode(v) for v in value]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            return {k: decode(v) for k, v in value.items()}
        return np.load(io.BytesIO(base64.b64decode(value)), allow_pickle=False)
ENCODER
    call = decode(json.loads(request))
    if name not in namespace:
        reply = {"raised": "NameError", "message": "name %r is not defined" % name}
    else:
        try:
            result = namespace[name](*call["args"], **call["kwargs"])
        except KeyboardInterrupt:
            raise
        except BaseException as err:
            reply = {"raised": type(err).__name__, "message": str(err)[:500],
                     "not_implemented": isinstance(err, NotImplementedError)}
        else:
            try:
                reply = {"result": _encode(result)}
            except Exception as err:
                reply = {"not_plain": str(err)}
    print("\\n" + MARKER + base64.b64encode(json.dumps(reply).encode()).decode(), flush=True)
'''.replace("MARKER", repr(_MARKER))


@functools.lru_cache(maxsize=None)
def _call_source() -> str:
    """:data:`_CALL_TEMPLATE` with the grader's ``_encode`` inserted (read from the course's source file;
    built when first needed, so that importing the grader never depends on it)."""
    try:
        source = textwrap.dedent(inspect.getsource(_encode))
    except (OSError, TypeError) as err:
        raise CourseError("grading needs the course's Python source files (course/grading.py), which this "
                          f"installation lacks ({err}); reinstall the course from its wheel or source.") from None
    return _CALL_TEMPLATE.replace("ENCODER", textwrap.indent(source, "    "))


class NotPlainData(Exception):
    """The learner's answer takes or gives something that cannot cross the sandbox as plain data."""


def _exception_named(name: str) -> type:
    name = name if name.isidentifier() else "Exception"
    return type(name, (Exception,), {})


class Proxy:
    """Stands in, in the grader's process, for the learner's function ``name`` in the kernel."""

    def __init__(self, kernel: Kernel, name: str, deadline: float, limit: float):
        self.kernel, self.name, self.deadline, self.limit = kernel, name, deadline, limit
        self.not_plain = ""

    def __call__(self, *args, **kwargs):
        try:
            request = json.dumps(_encode({"args": list(args), "kwargs": kwargs}))
        except TypeError as err:
            self.not_plain = f"the check passes it {err}"
            raise NotPlainData(self.not_plain) from None
        code = (f"{_call_source()}\n__course_grader_call(globals(), {self.name!r}, {request!r})\n"
                "del __course_grader_call")
        error, printed = self.kernel.execute(code, self.deadline, self.limit, silent=True)
        line = printed.rpartition(_MARKER)[2].split("\n", 1)[0] if _MARKER in printed else ""
        try:
            reply = json.loads(base64.b64decode(line, validate=True)) if line else None
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            detail = f"{error['ename']}: {error['evalue'][:200]}" if error else "no answer came back"
            raise RuntimeError(f"calling {self.name} in the notebook failed ({detail})")
        if "not_plain" in reply:
            self.not_plain = f"it returns {reply['not_plain']}"
            raise NotPlainData(self.not_plain)
        if "raised" in reply:
            message = str(reply.get("message", ""))
            if reply.get("not_implemented"):
                raise NotImplementedError(message)
            raise _exception_named(str(reply["raised"]))(message)
        try:
            return _decode(reply.get("result"))
        except (ValueError, TypeError) as err:
            raise RuntimeError(f"{self.name} in the notebook gave back something that is not plain data") from err


def verdict(exercise: Exercise, kernel: Kernel, deadline: float, limit: float) -> tuple[str, str, str]:
    """Run the course's check, strict cases on, in this process, on proxies for the learner's functions;
    returns ``(exercise id, result, detail)``."""
    checks = _checks()
    check = getattr(checks, exercise.check, None)
    if check is None or not check_info(exercise.check)[0]:
        return check_info(exercise.check)[0] or exercise.check, "not reached", f"the grader has no {exercise.check}"
    proxies = [Proxy(kernel, name, deadline, limit) for name in exercise.args]
    exercise_id = check_info(exercise.check)[0]
    checks.RESULTS.clear()
    environ = {k: v for k, v in os.environ.items() if k != "COURSE_CHECKS_LOG"}
    with mock.patch.dict(os.environ, {**environ, "COURSE_CHECKS": "strict"}, clear=True), \
            contextlib.redirect_stdout(io.StringIO()):
        try:
            check(*proxies)
        except Exception as err:  # noqa: BLE001 -- the check itself failed on what came back: no verdict
            return exercise_id, "not reached", f"the check failed in the grader: {type(err).__name__}: {str(err)[:200]}"
    result = checks.RESULTS.get(exercise_id) or next(iter(checks.RESULTS.values()), None)
    not_plain = next((p.not_plain for p in proxies if p.not_plain), "")
    if not_plain:
        return exercise_id, "unverified", (f"{not_plain}, which the grader does not take out of the sandbox: "
                                           "look at this answer in the notebook")
    if result is None:
        return exercise_id, "not reached", "its check did not finish"
    if result.status == "correct":
        return exercise_id, "passed", ""
    if result.status == "not done":
        return exercise_id, "not done", ""
    return exercise_id, "wrong", f"{result.message} -- hint: {result.hint}"


def run(cells: list[dict], plan: dict[str, Exercise], kernel: Kernel, limit: float) -> tuple[dict, str]:
    """Execute ``cells`` in ``kernel`` top to bottom, judging each exercise when its answer has run and
    before its self-check line does; returns ``({exercise id: (result, detail)}, where it failed)``."""
    verdicts, started = {}, time.monotonic()
    deadline = started + limit
    seen = set()
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        cid = cell.get("id")
        where = f"cell {index + 1} ({cid})"
        source = _source(cell)
        exercise = plan.get(cid) if cid not in seen else None
        seen.add(cid)
        match = exercise.pattern.match(source.rstrip()) if exercise else None
        if exercise and not match:
            verdicts[check_info(exercise.check)[0]] = ("not reached", "not judged: the exercise's cell was changed "
                                                                      "outside its answer")
        steps = [source] if not match else [source.rstrip()[: len(source.rstrip()) - len(exercise.rest)], None,
                                            exercise.rest]
        try:
            for step in steps:
                if step is None:
                    exercise_id, result, detail = verdict(exercise, kernel, deadline, limit)
                    verdicts[exercise_id] = (result, detail)
                    continue
                if not step.strip():
                    continue
                error, _ = kernel.execute(step, deadline, limit)
                if error:
                    return verdicts, f"{where}: {error['ename']}: {error['evalue'][:200]}"
        except Stopped as stop:
            return verdicts, f"{where}: {stop}"
    return verdicts, ""


# --------------------------------------------------------------------------- the class


def _lessons(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "solutions").glob("*.ipynb"))


def guess_lesson(submitted: dict, path: Path, root: Path, references: dict) -> str | None:
    """The lesson whose number starts the file name, else the one whose cell ids it shares most, else None."""
    for name in _lessons(root):
        if path.name.startswith(name.split("_")[0] + "_") or path.stem == name.split("_")[0]:
            return name
    ids = {cell.get("id") for cell in submitted["cells"]} - {None}
    overlap = {name: len(ids & {c.get("id") for c in references[name]["cells"]}) for name in references}
    best = max(overlap, key=overlap.get, default=None)
    return best if best and overlap[best] >= 3 else None


def _environment(sandboxed: bool) -> tuple[dict[str, str], list[Path]]:
    env = {"COURSE_FAST": "1", "MPLBACKEND": "Agg", "IPYTHONDIR": "/home/student/.ipython"}
    if sandboxed:
        env["COURSE_HOME"] = "/home/student/.course"
    else:
        env.pop("IPYTHONDIR")
    readonly = []
    for key in ("COURSE_DATA_DIR", "KERAS_BACKEND"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    if os.environ.get("COURSE_DATA_DIR") and Path(os.environ["COURSE_DATA_DIR"]).is_dir():
        readonly.append(Path(os.environ["COURSE_DATA_DIR"]))
    return env, readonly


def grade_one(path: Path, name: str, root: Path, lesson: str | None, timeout: float, scratch: Path,
              references: dict, sandboxed: bool = True, limits: sandbox.Limits = sandbox.Limits(),
              start_timeout: float = 120) -> Submission:
    """Read, compare, run and judge one submitted notebook; never raises for what is in the file."""
    mark = "yes" if sandboxed else "NO (--no-sandbox)"

    def whole(result: str, detail: str, lesson_name: str = "?") -> Submission:
        sub = Submission(name, lesson_name, failed_at=detail)
        sub.rows.append(Row(name, "", "", result, detail, "", mark))
        return sub

    try:
        if path.is_symlink() or not path.is_file():
            return whole("not a notebook", "not a regular file (a link or a device): not read")
        if path.stat().st_size > _MAX_FILE:
            return whole("not a notebook", f"larger than {_MAX_FILE >> 20} MiB: not read")
        submitted = load(path.read_text(encoding="utf-8", errors="strict"))
    except (OSError, UnicodeError) as err:
        return whole("not a notebook", f"not readable ({type(err).__name__})")
    except Malformed as err:
        return whole("not a notebook", str(err))
    guess = guess_lesson(submitted, path, root, references)
    if lesson:
        if guess and guess != lesson:
            return whole("another lesson", f"this is lesson {guess}, not {lesson}: grade it with --lesson "
                                           f"{guess.split('_')[0]}", guess)
        guess = lesson
    if guess is None:
        return whole("unknown lesson", "no lesson's number starts the file name and its cells match no lesson: "
                                       "grade it with --lesson")
    student = references[guess]
    sub = Submission(name, guess, flags=tampering(submitted, student, guess))
    plan = {cell.get("id"): ex for cell in student["cells"] if cell.get("cell_type") == "code"
            for ex in [_exercise(_source(cell))] if ex}
    work = Path(tempfile.mkdtemp(prefix="s", dir=scratch))
    env, readonly = _environment(sandboxed)
    kernel = None
    try:
        kernel = Kernel(work, sandboxed, limits, env, readonly)
        kernel.start(start_timeout)
        verdicts, sub.failed_at = run(submitted["cells"], plan, kernel, timeout)
    except Stopped as stop:
        verdicts, sub.failed_at = {}, f"start: {stop}"
    except Exception as err:  # noqa: BLE001 -- the grader's own failure on one file must not stop the class
        verdicts, sub.failed_at = {}, f"start: the grader could not run it ({type(err).__name__}: {str(err)[:200]})"
    finally:
        if kernel is not None:
            kernel.stop()
        shutil.rmtree(work, ignore_errors=True)
    flags = "; ".join(sub.flags)
    for exercise, title in exercises(student):
        if exercise in verdicts:
            result, detail = verdicts[exercise]
        else:
            result, detail = "not reached", (f"the notebook failed at {sub.failed_at}" if sub.failed_at else
                                             "its self-check never ran")
        sub.rows.append(Row(name, exercise, title, result, detail, flags, mark))
    return sub


def submissions(folder: Path) -> list[Path]:
    """Every ``*.ipynb`` under ``folder``, links included (they get a row saying so), checkpoints apart."""
    found = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != ".ipynb_checkpoints")
        found += [Path(top) / f for f in sorted(files) if f.endswith(".ipynb")]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def grade(folder, root=None, lesson: str | None = None, timeout: float = 1800, out=None, sandboxed: bool = True,
          limits: sandbox.Limits = sandbox.Limits(), progress=None) -> list[Submission]:
    """Grade every ``*.ipynb`` under ``folder``; write ``out`` (CSV) when given. Without ``sandboxed`` the
    students' code runs with the grader's rights."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"{folder} is not a folder of submitted notebooks.")
    paths = submissions(folder)
    if not paths:
        raise CourseError(f"no .ipynb file in {folder}.")
    root = notebooks.project_root(root)
    if not (root / "solutions").is_dir():
        raise CourseError(f"{root} has no solutions/ folder: point --root at the course the notebooks came from.")
    if out is not None:
        out = Path(out).resolve()
        if folder.resolve() in out.parents:
            raise CourseError(f"--out {out} is inside the submissions folder: write the grades elsewhere.")
        if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
            raise CourseError(f"--out {out}: its folder does not exist or cannot be written.")
    if lesson is not None:
        matches = [name for name in _lessons(root) if name.startswith(lesson)]
        reference(root, lesson)  # an unknown lesson fails before anything runs
        lesson = matches[0]
    if sandboxed and sandbox.unavailable():
        raise CourseError(sandbox.MISSING.format(why=sandbox.unavailable()))
    references = {name: reference(root, name) for name in _lessons(root)}
    _checks()
    graded = []
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
        os.chmod(scratch, 0o711)  # the sandboxes' user must reach its own folder in it, and list nothing
        for path in paths:
            name = path.relative_to(folder).as_posix()
            try:
                sub = grade_one(path, name, root, lesson, timeout, Path(scratch), references, sandboxed, limits)
            except Exception as err:  # noqa: BLE001 -- a row for the file, and the class goes on
                sub = Submission(name, lesson or "?", failed_at=f"{type(err).__name__}: {str(err)[:200]}")
                sub.rows.append(Row(name, "", "", "grader error", sub.failed_at, "",
                                    "yes" if sandboxed else "NO (--no-sandbox)"))
            graded.append(sub)
            if progress:
                progress(sub)
    if out:
        write_csv(graded, out)
    return graded


def _safe(value: str) -> str:
    """A CSV field a spreadsheet shows as text: a leading ``=``, ``+``, ``-``, ``@``, tab or CR is escaped."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_csv(graded: list[Submission], out) -> Path:
    out = Path(out)
    partial = out.with_name(f".{out.name}.{secrets.token_hex(4)}")
    with partial.open("x", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "exercise", "title", "result", "detail", "flags", "sandbox"])
        for sub in graded:
            for row in sub.rows:
                writer.writerow([_safe(str(v)) for v in (row.submission, row.exercise, row.title, row.result,
                                                          row.detail, row.flags, row.sandbox)])
    partial.replace(out)
    return out


def _printable(text: str) -> str:
    """``text`` without control characters: a file name or an error message cannot drive the terminal."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", "?", text)


def line(sub: Submission) -> str:
    """One submission's line of the summary."""
    exercises_ = [r for r in sub.rows if r.exercise]
    if not exercises_:
        text = f"{sub.name}: {sub.rows[0].result}: {sub.rows[0].detail}" if sub.rows else f"{sub.name}: nothing"
        return _printable(text)
    passed = sum(r.result == "passed" for r in exercises_)
    state = f"FLAGGED ({'; '.join(sub.flags)})" if sub.flags else "ok"
    failed = f", notebook failed at {sub.failed_at}" if sub.failed_at else ""
    unverified = sum(r.result == "unverified" for r in exercises_)
    extra = f", {unverified} unverified" if unverified else ""
    return _printable(f"{sub.name}: {passed} of {len(exercises_)} passed{extra}{failed} [{state}]")


def summary(graded: list[Submission]) -> str:
    """Per submission, one line; per exercise, how many passed (flagged submissions apart)."""
    lines = [line(sub) for sub in graded]
    lines.append("")
    lines.append(f"{'exercise':<10}{'passed':>8}{'wrong':>8}{'not done':>10}{'not reached':>13}{'unverified':>12}"
                 f"{'flagged':>9}  title")
    order = []
    for sub in graded:
        for row in sub.rows:
            if row.exercise and (row.exercise, row.title) not in order:
                order.append((row.exercise, row.title))
    for exercise, title in order:
        rows = [(sub, r) for sub in graded for r in sub.rows if r.exercise == exercise]
        trusted = [r for sub, r in rows if not sub.flags]
        count = lambda result: sum(r.result == result for r in trusted)  # noqa: E731
        lines.append(f"{exercise:<10}{count('passed'):>8}{count('wrong'):>8}{count('not done'):>10}"
                     f"{count('not reached'):>13}{count('unverified'):>12}{len(rows) - len(trusted):>9}  {title}")
    return "\n".join(lines)
