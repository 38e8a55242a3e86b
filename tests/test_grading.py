"""The instructor's grader on a class of six: solved, half-solved, unsolved, tampered, crashing, endless.

A small lesson of the course's own shape (two exercises with lesson 00's self-checks) is handed out
from a course root of its own; `python -m course grade` runs the folder of submissions.
"""
import copy
import csv
import json

import pytest

from course import cli, grading, notebooks

SOLVED_1 = '''def fit_linear_regression(x, y):
    ### BEGIN SOLUTION
    design = np.concatenate([np.ones((len(x), 1)), x], axis=1)
    theta = np.linalg.solve(design.T @ design, design.T @ y)
    return theta[1:], theta[0]
    ### END SOLUTION


fit_linear_regression = checks.check_linear_regression(fit_linear_regression)'''
SOLVED_2 = '''def hide_labels(labels, labelled, seed=0):
    ### BEGIN SOLUTION
    hidden = np.full(len(labels), -1)
    keep = np.random.default_rng(seed).permutation(len(labels))[:labelled]
    hidden[keep] = labels[keep]
    return hidden
    ### END SOLUTION


hide_labels = checks.check_hide_labels(hide_labels)'''


def _cell(cid, kind, source):
    cell = {"cell_type": kind, "id": cid, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _lesson():
    cells = [_cell("title", "markdown", "# Lesson 07 — a small one"),
             _cell("setup", "code", "import numpy as np\n\nfrom course import checks"),
             _cell("ex1", "code", SOLVED_1), _cell("ex2", "code", SOLVED_2),
             _cell("scoreboard", "code", "checks.scoreboard();")]
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}


def _answer(student, cid, body):
    """The student copy with exercise ``cid`` answered by ``body`` (indented function body)."""
    nb = copy.deepcopy(student)
    for cell in nb["cells"]:
        if cell["id"] == cid:
            cell["source"] = cell["source"].replace("    raise NotImplementedError()", body)
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    root, class_ = tmp / "course", tmp / "submissions"
    (root / "solutions").mkdir(parents=True)
    class_.mkdir()
    solution = _lesson()
    (root / "solutions" / "07_small.ipynb").write_text(notebooks.render(solution))
    student = notebooks.student_version(solution)
    solved_body = SOLVED_1.split("### BEGIN SOLUTION\n")[1].split("    ### END SOLUTION")[0].rstrip()
    tampered = copy.deepcopy(solution)
    tampered["cells"][1]["source"] += "\nchecks.check_hide_labels = lambda f: f  # always 'passes'"
    endless = _answer(student, "ex1", "    while True:\n        pass")
    class_files = {
        "solved.ipynb": solution,
        "half.ipynb": _answer(student, "ex1", solved_body),
        "unsolved.ipynb": student,
        "tampered.ipynb": tampered,
        "crashing.ipynb": _answer(_answer(student, "ex1", "    w, *_ = np.linalg.lstsq(x, y, rcond=None)\n"
                                                         "    return w, np.mean(y - x @ w)"),
                                  "ex2", "    return [label for label in labels if]"),
        "endless.ipynb": endless,
    }
    for name, nb in class_files.items():
        (class_ / name).write_text(notebooks.render(nb))
    out = tmp / "grades.csv"
    code = cli.main(["grade", str(class_), "--root", str(root), "--timeout", "10", "--out", str(out)])
    assert code == 0
    rows = list(csv.DictReader(out.open()))
    return {(r["submission"], r["exercise"]): r for r in rows}, rows


def result(graded, name, exercise):
    return graded[0][(name, exercise)]["result"]


def test_solved_and_half_solved_submissions(graded):
    assert result(graded, "solved.ipynb", "00.1") == result(graded, "solved.ipynb", "00.4") == "passed"
    assert result(graded, "half.ipynb", "00.1") == "passed"
    assert result(graded, "half.ipynb", "00.4") == "not done"
    assert result(graded, "unsolved.ipynb", "00.1") == result(graded, "unsolved.ipynb", "00.4") == "not done"
    assert not any(r["flags"] for r in graded[1] if r["submission"] in ("solved.ipynb", "half.ipynb", "unsolved.ipynb"))


def test_a_tampered_submission_is_flagged_not_trusted(graded):
    row = graded[0][("tampered.ipynb", "00.4")]
    assert "cell 2 (setup) changed" in row["flags"]


def test_a_crashing_submission_reports_the_wrong_answer_and_where_it_failed(graded):
    wrong = graded[0][("crashing.ipynb", "00.1")]
    assert wrong["result"] == "wrong" and "through the origin" in wrong["detail"] and "hint" in wrong["detail"]
    stopped = graded[0][("crashing.ipynb", "00.4")]
    assert stopped["result"] == "not reached" and "cell 4 (ex2)" in stopped["detail"] and "SyntaxError" in stopped["detail"]


def test_an_endless_submission_is_stopped_and_the_rest_still_graded(graded):
    row = graded[0][("endless.ipynb", "00.1")]
    assert row["result"] == "not reached" and "cell 3 (ex1): still running after 10 s" in row["detail"]
    assert {r["submission"] for r in graded[1]} == {"solved.ipynb", "half.ipynb", "unsolved.ipynb", "tampered.ipynb",
                                                    "crashing.ipynb", "endless.ipynb"}


def test_tampering_is_found_in_the_answer_too_and_a_fork_address_is_not_tampering(tmp_path):
    solution = _lesson()
    student = notebooks.student_version(solution)
    sneaky = _answer(student, "ex1", "    checks.RESULTS.clear()\n    return None, None")
    assert grading.tampering(sneaky, student, "07_small") == ["cell 3 (ex1): the answer reaches into the self-checks"]
    deleted = copy.deepcopy(student)
    deleted["cells"].pop(3)
    assert grading.tampering(deleted, student, "07_small") == ["cell 4 (ex2) deleted"]
    relabelled = copy.deepcopy(student)
    relabelled["cells"][2]["source"] = relabelled["cells"][2]["source"].replace(
        "checks.check_linear_regression(fit_linear_regression)", "fit_linear_regression")
    assert "self-check line changed" in grading.tampering(relabelled, student, "07_small")[0]
    assert grading.tampering(_answer(student, "ex1", "    return 1, 2"), student, "07_small") == []


def test_the_summary_counts_flagged_submissions_apart(graded):
    subs = [grading.Submission("a.ipynb", "07", rows=[grading.Row("a.ipynb", "00.1", "t", "passed")]),
            grading.Submission("b.ipynb", "07", flags=["cell 2 changed"], rows=[grading.Row("b.ipynb", "00.1", "t",
                                                                                            "passed")])]
    table = grading.summary(subs)
    assert "b.ipynb: 1 of 1 passed [FLAGGED (cell 2 changed)]" in table
    line = next(line for line in table.splitlines() if line.startswith("00.1"))
    assert line.split()[:6] == ["00.1", "1", "0", "0", "0", "1"]


def test_bad_input_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(Exception, match="not a folder"):
        grading.grade(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="no .ipynb"):
        grading.grade(tmp_path / "empty")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "x.ipynb").write_text(json.dumps(_lesson()))
    with pytest.raises(Exception, match="no single lesson matches '99'"):
        grading.grade(tmp_path / "one", root=notebooks.project_root(), lesson="99")
