"""Student notebooks are generated from ``solutions/``; never edit ``notebooks/`` by hand.

In a solution notebook, each exercise answer sits between ``### BEGIN SOLUTION``
and ``### END SOLUTION``. The student copy replaces every such region with
``raise NotImplementedError()`` at the marker's indentation, tags the cell
``raises-exception`` (so the lesson still runs top to bottom under nbval), and
drops all outputs. ``check`` fails when ``notebooks/`` differs from what
``build`` would write, when a student notebook holds solution text, or when a
solution notebook was committed with outputs.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

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


def _clean(cell) -> None:
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    for key in ("execution", "collapsed", "scrolled"):
        cell.metadata.pop(key, None)


def student_version(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student copy of one solution notebook (the input is not changed)."""
    nb = nbformat.from_dict(solution)
    for index, cell in enumerate(nb.cells):
        _clean(cell)
        if cell.cell_type != "code":
            continue
        try:
            cell.source, changed = strip_solutions(cell.source)
        except ValueError as err:
            raise ValueError(f"cell {index} ({cell.get('id', '?')}): {err}") from None
        if changed:
            tags = cell.metadata.setdefault("tags", [])
            if STUDENT_TAG not in tags:
                tags.append(STUDENT_TAG)
    nb.metadata.pop("widgets", None)
    return nb


def _render(nb) -> str:
    return nbformat.writes(nb, version=4) + "\n"


def _solution_lines(solution: nbformat.NotebookNode) -> set[str]:
    lines, inside = set(), False
    for cell in solution.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
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
        nb = nbformat.read(solution, as_version=4)
        student.write_text(_render(student_version(nb)))
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
        nb = nbformat.read(solution, as_version=4)
        if any(c.cell_type == "code" and (c.outputs or c.execution_count) for c in nb.cells):
            problems.append(f"{solution} carries outputs: clear them before committing")
        expected = _render(student_version(nb))
        if not student.is_file():
            problems.append(f"{student} is missing")
            continue
        actual = student.read_text()
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
