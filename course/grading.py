"""Grade a folder of submitted student notebooks: ``python -m course grade SUBMISSIONS/``.

Each submission is

1. **compared with the student copy it was handed out as** (built from ``solutions/`` of the
   course at ``--root``): outside the exercise answers nothing may change. A changed or deleted
   cell, an added code cell, a changed self-check line, or answer code that reaches into the
   checks is *flagged*: the submission is still run and reported, but not counted as passed;
2. **executed top to bottom in a fresh kernel**, in fast mode, with the stricter grading cases
   of :mod:`course.checks` on (``COURSE_CHECKS=strict``: other shapes and values than the ones
   the learner saw) and the checks' results written to a log (``COURSE_CHECKS_LOG``). A cell
   that fails or runs longer than ``timeout`` seconds stops that submission only;
3. **reported**, one row per exercise: passed / wrong (with the hint) / not done / not reached
   (the notebook failed at cell N first), plus a summary per exercise.

Taught in the README's instructor section.
"""
from __future__ import annotations

import csv
import inspect
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from . import checks, notebooks
from .errors import CourseError

PLACEHOLDER = "raise NotImplementedError()"
_CHECK_CALL = re.compile(r"checks\.(check_\w+)\(")
_EXERCISE_ID = re.compile(r'_run\(\s*"([^"]+)",\s*"([^"]+)"')
#: What answer code has no business touching: the checks, their log, their results.
_REACHES_INTO_CHECKS = re.compile(r"checks\.|COURSE_CHECKS|RESULTS|_record|scoreboard")


@dataclass
class Row:
    submission: str
    exercise: str
    title: str
    result: str  # passed, wrong, not done, not reached, notebook failed
    detail: str = ""
    flags: str = ""


@dataclass
class Submission:
    name: str
    lesson: str
    flags: list[str] = field(default_factory=list)
    failed_at: str = ""
    rows: list[Row] = field(default_factory=list)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _normalise(source: str, lesson: str) -> str:
    """The cell with the course's address stamped the same way, so that copies built for another
    fork or release compare equal."""
    return notebooks.stamp(source, "https://example.invalid/course", "ref", f"{lesson}.ipynb").rstrip()


def reference(root: Path, lesson: str) -> dict:
    """The student copy of ``lesson`` as ``notebooks build`` makes it from ``root/solutions``."""
    matches = sorted((root / "solutions").glob(f"{lesson}*.ipynb"))
    if len(matches) != 1:
        known = ", ".join(p.stem for p in sorted((root / "solutions").glob("*.ipynb"))) or "none"
        raise CourseError(f"no single lesson matches {lesson!r} in {root / 'solutions'} (lessons: {known}); "
                          "name it with --lesson, e.g. --lesson 02, or point --root at the course.")
    return notebooks.student_version(notebooks.read(matches[0]))


def exercises(student: dict) -> list[tuple[str, str]]:
    """``(exercise id, title)`` of each self-check the student copy calls, in order."""
    found = []
    for cell in student["cells"]:
        for name in _CHECK_CALL.findall(_source(cell)):
            check = getattr(checks, name, None)
            match = _EXERCISE_ID.search(inspect.getsource(check)) if check else None
            if match and match.groups() not in found:
                found.append(match.groups())
    return found


def tampering(submitted: dict, student: dict, lesson: str) -> list[str]:
    """What in ``submitted`` differs from the student copy outside the exercise answers."""
    flags = []
    given = {cell.get("id"): cell for cell in submitted.get("cells", [])}
    for position, cell in enumerate(student["cells"], start=1):
        ref = _normalise(_source(cell), lesson)
        got = given.pop(cell.get("id"), None)
        where = f"cell {position} ({cell.get('id')})"
        if got is None:
            flags.append(f"{where} deleted")
            continue
        text = _normalise(_source(got), lesson)
        if PLACEHOLDER not in ref:
            if text != ref:
                flags.append(f"{where} changed")
            continue
        before, after = ref.split(PLACEHOLDER, 1)
        head = [line for line in before.splitlines() if line.strip()]
        if not text.endswith(after.rstrip()) or not all(line in text for line in head):
            flags.append(f"{where}: the exercise's definition or self-check line changed")
            continue
        answer = text[: len(text) - len(after.rstrip())]
        if _REACHES_INTO_CHECKS.search(answer):
            flags.append(f"{where}: the answer reaches into the self-checks")
    for cell in given.values():
        if cell.get("cell_type") == "code" and _source(cell).strip():
            flags.append(f"a code cell was added ({cell.get('id')})")
    return flags


def run(path: Path, timeout: float, home: Path, kernel: str = "python3") -> tuple[list[dict], str]:
    """Execute the notebook in a fresh kernel, cell by cell; returns the checks' log and, when a cell
    failed or ran too long, ``"cell N (id): what happened"``."""
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    except ImportError as err:
        raise CourseError(f"grading runs notebooks with nbclient ({err}); install it: pip install -e \".[grade]\"") from err

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="grade-") as work:
        log = Path(work) / "checks.jsonl"
        env = {"COURSE_FAST": "1", "COURSE_CHECKS": "strict", "COURSE_CHECKS_LOG": str(log), "COURSE_HOME": str(home),
               "MPLBACKEND": "Agg"}
        failed = ""
        with mock.patch.dict(os.environ, env):
            client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=False,
                                    resources={"metadata": {"path": work}})
            with client.setup_kernel():
                for index, cell in enumerate(nb.cells):
                    where = f"cell {index + 1} ({cell.get('id')})"
                    try:
                        client.execute_cell(cell, index)
                    except CellTimeoutError:
                        failed = f"{where}: still running after {timeout:g} s, stopped"
                    except CellExecutionError as err:
                        failed = f"{where}: {getattr(err, 'ename', 'error')}: {str(getattr(err, 'evalue', ''))[:200]}"
                    except DeadKernelError:
                        failed = f"{where}: the kernel died"
                    if failed:
                        break
        entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    return entries, failed


def lesson_of(submitted: dict, path: Path, root: Path, lesson: str | None) -> str:
    """The lesson a submission belongs to: ``lesson`` when given, else the lesson whose name starts
    the file name, else the one whose cells it shares most."""
    lessons = sorted(p.stem for p in (root / "solutions").glob("*.ipynb"))
    if lesson:
        return next(name for name in lessons if name.startswith(lesson))
    for name in lessons:
        if path.stem.startswith(name.split("_")[0]):
            return name
    ids = {cell.get("id") for cell in submitted.get("cells", [])}
    overlap = {name: len(ids & {c.get("id") for c in reference(root, name)["cells"]}) for name in lessons}
    best = max(overlap, key=overlap.get) if overlap else None
    if not best or not overlap[best]:
        raise CourseError(f"{path.name}: cannot tell which lesson this is; name it with --lesson.")
    return best


def grade_one(path: Path, root: Path, lesson: str | None, timeout: float, home: Path) -> Submission:
    """Compare, run and report one submitted notebook."""
    name = path.name
    try:
        submitted = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        sub = Submission(name, lesson or "?", failed_at=f"not a notebook: {err}")
        sub.rows.append(Row(name, "-", "-", "notebook failed", sub.failed_at))
        return sub
    lesson_name = lesson_of(submitted, path, root, lesson)
    student = reference(root, lesson_name)
    sub = Submission(name, lesson_name, flags=tampering(submitted, student, lesson_name))
    entries, sub.failed_at = run(path, timeout, home)
    results = {e["exercise"]: e for e in entries}  # a check run twice: its last result
    flags = "; ".join(sub.flags)
    for exercise, title in exercises(student):
        entry = results.get(exercise)
        if entry is None:
            result, detail = ("not reached", f"the notebook failed at {sub.failed_at}") if sub.failed_at else (
                "not reached", "its self-check never ran")
        else:
            result = {"correct": "passed", "wrong": "wrong", "not done": "not done"}[entry["status"]]
            detail = f"{entry['message']} -- hint: {entry['hint']}" if entry["status"] == "wrong" else ""
        sub.rows.append(Row(name, exercise, title, result, detail, flags))
    return sub


def grade(folder, root=None, lesson: str | None = None, timeout: float = 600, out=None,
          home=None) -> list[Submission]:
    """Grade every ``*.ipynb`` in ``folder``; write ``out`` (CSV) when given."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"{folder} is not a folder of submitted notebooks.")
    paths = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        raise CourseError(f"no .ipynb file in {folder}.")
    root = notebooks.project_root(root)
    if not (root / "solutions").is_dir():
        raise CourseError(f"{root} has no solutions/ folder: point --root at the course the notebooks came from.")
    if lesson is not None:
        reference(root, lesson)  # an unknown lesson fails before anything runs
    with tempfile.TemporaryDirectory(prefix="grade-home-") as shared:
        home = Path(home) if home else Path(shared)  # one home: evaluators are trained once for the class
        graded = [grade_one(p, root, lesson, timeout, home) for p in paths]
    if out:
        write_csv(graded, out)
    return graded


def write_csv(graded: list[Submission], out) -> Path:
    out = Path(out)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "exercise", "title", "result", "detail", "flags"])
        for sub in graded:
            for row in sub.rows:
                writer.writerow([row.submission, row.exercise, row.title, row.result, row.detail, row.flags])
    return out


def summary(graded: list[Submission]) -> str:
    """Per submission, one line; per exercise, how many passed (flagged submissions apart)."""
    lines = []
    for sub in graded:
        passed = sum(r.result == "passed" for r in sub.rows)
        state = f"FLAGGED ({'; '.join(sub.flags)})" if sub.flags else "ok"
        failed = f", notebook failed at {sub.failed_at}" if sub.failed_at else ""
        lines.append(f"{sub.name}: {passed} of {len(sub.rows)} passed{failed} [{state}]")
    lines.append("")
    lines.append(f"{'exercise':<10}{'passed':>8}{'wrong':>8}{'not done':>10}{'not reached':>13}{'flagged':>9}  title")
    order = []
    for sub in graded:
        for row in sub.rows:
            if (row.exercise, row.title) not in order:
                order.append((row.exercise, row.title))
    for exercise, title in order:
        rows = [(sub, r) for sub in graded for r in sub.rows if r.exercise == exercise]
        trusted = [r for sub, r in rows if not sub.flags]
        count = lambda result: sum(r.result == result for r in trusted)  # noqa: E731
        lines.append(f"{exercise:<10}{count('passed'):>8}{count('wrong'):>8}{count('not done'):>10}"
                     f"{count('not reached'):>13}{len(rows) - len(trusted):>9}  {title}")
    return "\n".join(lines)
