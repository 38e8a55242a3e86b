"""What the grader's sandbox costs: ``python -m course grade`` on a class of lesson-00 submissions,
with the bubblewrap sandbox and with ``--no-sandbox``, one after the other on the same folder.

    COURSE_DATA_DIR=../shared/data python benchmarks/grading_sandbox.py --submissions 30

The class is a third solved (the solution notebook), a third unsolved (the student copy) and a third
with exercise 00.1 answered. Prints each run's wall time, its summary table, and the ratio.
"""
from __future__ import annotations

import argparse
import json
import subprocess
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


def grade(folder: Path, out: Path, sandboxed: bool) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "course", "grade", str(folder), "--root", str(ROOT), "--out", str(out)]
    if not sandboxed:
        cmd.append("--no-sandbox")
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        tmp = Path(tmp)
        make_class(tmp / "class", args.submissions)
        make_class(tmp / "warm", 1)
        grade(tmp / "warm", tmp / "warm.csv", True)  # file caches warm for both runs
        times = {}
        for sandboxed in (False, True):
            seconds, summary = grade(tmp / "class", tmp / f"grades-{sandboxed}.csv", sandboxed)
            times[sandboxed] = seconds
            table = summary.split("\n\n")[1] if "\n\n" in summary else summary
            print(f"{'sandbox' if sandboxed else '--no-sandbox'}: {args.submissions} submissions in {seconds:.1f} s "
                  f"({seconds / args.submissions:.1f} s each)\n{table}\n", flush=True)
        print(f"sandbox / no sandbox: {times[True] / times[False]:.3f}")


if __name__ == "__main__":
    main()
