"""Student notebooks are generated from ``solutions/``; never edit ``notebooks/`` by hand.

In a solution notebook, each exercise answer sits between ``### BEGIN SOLUTION``
and ``### END SOLUTION``. The student copy replaces every such region with
``raise NotImplementedError()`` at the marker's indentation, tags the cell
``raises-exception`` (so the lesson still runs top to bottom under nbval), and
drops all outputs. ``check`` fails when ``notebooks/`` differs from what
``build`` would write, when a student notebook holds solution text, or when a
solution notebook was committed with outputs.

Notebooks are read and written with the standard library only, in exactly the bytes
``nbformat.writes`` produces (a test pins this), so an instructor can build and check
student copies from a bare checkout, before installing TensorFlow.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUDENT_TAG = "raises-exception"
_MARKER = re.compile(r"^(\s*)" + re.escape(BEGIN) + r"\s*$")


def project_root(root: str | Path | None = None) -> Path:
    """The folder holding ``solutions/``: ``root``, else the working directory, else the checkout."""
    if root is not None:
        return Path(root)
    cwd = Path.cwd()
    if (cwd / "solutions").is_dir():
        return cwd
    return Path(__file__).resolve().parent.parent


def strip_solutions(source: str) -> tuple[str, bool]:
    """Replace each solution region by ``raise NotImplementedError()``; returns (text, changed)."""
    out, inside, changed = [], False, False
    for number, line in enumerate(source.splitlines(), 1):
        match = _MARKER.match(line)
        if match and not inside:
            inside, changed = True, True
            out.append(f"{match.group(1)}raise NotImplementedError()")
        elif line.strip() == END:
            if not inside:
                raise ValueError(f"line {number}: {END} without {BEGIN}")
            inside = False
        elif line.strip().startswith(BEGIN):
            raise ValueError(f"line {number}: nested {BEGIN}")
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(out), changed


def read(path: str | Path) -> dict:
    """A version-4 notebook as a dict, each cell's ``source`` joined into one string."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable notebook ({err})") from None
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path} is not a version-4 Jupyter notebook")
    for cell in nb["cells"]:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return nb


def render(nb: dict) -> str:
    """The file text of a notebook, as ``nbformat.writes(nb, version=4)`` writes it, plus a newline."""
    nb = copy.deepcopy(nb)
    for key in ("orig_nbformat", "orig_nbformat_minor", "signature"):  # transient, never stored
        nb.get("metadata", {}).pop(key, None)
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("trusted", None)
        if isinstance(cell.get("source"), str):
            cell["source"] = cell["source"].splitlines(True)
    return json.dumps(nb, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False) + "\n"


def _clean(cell: dict) -> None:
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    for key in ("execution", "collapsed", "scrolled"):
        cell.get("metadata", {}).pop(key, None)


def student_version(solution: dict) -> dict:
    """The student copy of one solution notebook (the input is not changed)."""
    nb = copy.deepcopy(solution)
    for index, cell in enumerate(nb["cells"]):
        _clean(cell)
        if cell.get("cell_type") != "code":
            continue
        try:
            cell["source"], changed = strip_solutions(cell["source"])
        except ValueError as err:
            raise ValueError(f"cell {index} ({cell.get('id', '?')}): {err}") from None
        if changed:
            tags = cell.setdefault("metadata", {}).setdefault("tags", [])
            if STUDENT_TAG not in tags:
                tags.append(STUDENT_TAG)
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def _solution_lines(solution: dict) -> set[str]:
    lines, inside = set(), False
    for cell in solution["cells"]:
        if cell.get("cell_type") != "code":
            continue
        for line in cell["source"].splitlines():
            if _MARKER.match(line):
                inside = True
            elif line.strip() == END:
                inside = False
            elif inside and len(line.strip()) > 12 and not line.strip().startswith("#"):
                lines.add(line.strip())
    return lines


def _pairs(root: Path):
    for solution in sorted((root / "solutions").glob("*.ipynb")):
        yield solution, root / "notebooks" / solution.name


def build(root: str | Path | None = None) -> list[Path]:
    """Write ``notebooks/`` from ``solutions/``; returns the paths written."""
    root = project_root(root)
    (root / "notebooks").mkdir(exist_ok=True)
    written = []
    for solution, student in _pairs(root):
        student.write_text(render(student_version(read(solution))), encoding="utf-8")
        written.append(student)
    return written


def check(root: str | Path | None = None) -> list[str]:
    """Problems that would make ``notebooks/`` wrong; an empty list means in sync."""
    root = project_root(root)
    problems = []
    pairs = list(_pairs(root))
    if not pairs:
        problems.append(f"{root / 'solutions'} holds no notebooks")
    for solution, student in pairs:
        nb = read(solution)
        if any(c.get("cell_type") == "code" and (c.get("outputs") or c.get("execution_count")) for c in nb["cells"]):
            problems.append(f"{solution} carries outputs: clear them before committing")
        expected = render(student_version(nb))
        if not student.is_file():
            problems.append(f"{student} is missing")
            continue
        actual = student.read_text(encoding="utf-8")
        if actual != expected:
            problems.append(f"{student} differs from what {solution} generates")
        leaked = sorted(line for line in _solution_lines(nb) if line in actual)
        if BEGIN in actual or leaked:
            problems.append(f"{student} contains solution text: {(leaked or [BEGIN])[0]!r}")
    names = {s.name for s, _ in pairs}
    for extra in sorted((root / "notebooks").glob("*.ipynb")):
        if extra.name not in names:
            problems.append(f"{extra} has no source in solutions/")
    return problems
