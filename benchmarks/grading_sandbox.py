"""What the grader's sandbox costs: grading a class of lesson-00 submissions with the bubblewrap sandbox
and with ``--no-sandbox`` (:func:`course.grading.grade`, what ``python -m course grade`` runs), each
submission graded both ways back to back, in alternating order, so that both see the same load on a
shared machine; the grader's own start (importing TensorFlow once) is left out of both sums.

    COURSE_DATA_DIR=../shared/data python benchmarks/grading_sandbox.py --submissions 30

The class is a third solved (the solution notebook), a third unsolved (the student copy) and a third
with exercise 00.1 answered. Prints each run's wall time, its summary table, and the ratio.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_class(folder: Path, count: int) -> None:
    solved = (ROOT / "solutions" / "00_foundations.ipynb").read_text()
    unsolved = (ROOT / "notebooks" / "00_foundations.ipynb").read_text()
    half = json.loads(unsolved)
    answer = json.loads(solved)
    for cell, source in zip(half["cells"], answer["cells"]):
        if cell.get("id") == "ex1":
            cell["source"] = source["source"]
    kinds = [solved, unsolved, json.dumps(half, indent=1)]
    for number in range(count):
        target = folder / f"student{number:02d}" / "00_foundations.ipynb"
        target.parent.mkdir(parents=True)
        target.write_text(kinds[number % 3])


def main() -> None:
    from course import grading

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        tmp = Path(tmp)
        make_class(tmp / "class", args.submissions)
        folders = sorted((tmp / "class").iterdir())
        grading.grade(folders[0], root=ROOT)  # imports, file caches: warm for both
        seconds = {True: 0.0, False: 0.0}
        graded = {True: [], False: []}
        for number, folder in enumerate(folders):
            for sandboxed in ((True, False) if number % 2 == 0 else (False, True)):
                started = time.monotonic()
                graded[sandboxed] += grading.grade(folder, root=ROOT, sandboxed=sandboxed)
                seconds[sandboxed] += time.monotonic() - started
            print(f"{folder.name}: sandbox {seconds[True]:.1f} s, --no-sandbox {seconds[False]:.1f} s so far",
                  file=sys.stderr, flush=True)
        for sandboxed in (False, True):
            table = grading.summary(graded[sandboxed]).split("\n\n")[1]
            print(f"{'sandbox' if sandboxed else '--no-sandbox'}: {args.submissions} submissions in "
                  f"{seconds[sandboxed]:.1f} s ({seconds[sandboxed] / args.submissions:.1f} s each)\n{table}\n")
        print(f"sandbox / no sandbox: {seconds[True] / seconds[False]:.3f}")


if __name__ == "__main__":
    main()
