import nbformat
import pytest

from course import notebooks


def solution_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Lesson", id="title"),
        nbformat.v4.new_code_cell(
            "def f(x):\n    \"\"\"Double x.\"\"\"\n    ### BEGIN SOLUTION\n    doubled = 2 * x\n    return doubled\n"
            "    ### END SOLUTION\n\ncheck(f)", id="ex1"),
        nbformat.v4.new_code_cell("print(1)", id="plain"),
    ]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells[2].execution_count = 3
    return nb


def test_student_version_hides_solutions_keeps_indentation_and_tags():
    student = notebooks.student_version(solution_notebook())
    ex = student.cells[1]
    assert ex.source == 'def f(x):\n    """Double x."""\n    raise NotImplementedError()\n\ncheck(f)'
    assert ex.metadata["tags"] == ["raises-exception"]
    assert "tags" not in student.cells[2].metadata
    assert student.cells[2].outputs == [] and student.cells[2].execution_count is None
    assert [c.id for c in student.cells] == ["title", "ex1", "plain"]


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "without ### END"),
    ("x = 1\n### END SOLUTION", "without ### BEGIN"),
])
def test_unbalanced_markers_are_errors(source, problem):
    with pytest.raises(ValueError, match=problem):
        notebooks.strip_solutions(source)


def make_project(tmp_path, nb):
    (tmp_path / "solutions").mkdir()
    nbformat.write(nb, tmp_path / "solutions" / "01_x.ipynb")
    return tmp_path


def test_build_then_check_is_clean_and_edits_are_caught(tmp_path):
    nb = solution_notebook()
    nb.cells[2].outputs, nb.cells[2].execution_count = [], None
    root = make_project(tmp_path, nb)
    assert notebooks.check(root) == [f"{root}/notebooks/01_x.ipynb is missing"]
    notebooks.build(root)
    assert notebooks.check(root) == []
    student = root / "notebooks" / "01_x.ipynb"
    student.write_text(student.read_text().replace("raise NotImplementedError()", "doubled = 2 * x"))
    problems = notebooks.check(root)
    assert any("differs" in p for p in problems)
    assert any("contains solution text" in p and "doubled = 2 * x" in p for p in problems)


def test_check_flags_outputs_in_solutions_and_orphan_student_notebooks(tmp_path):
    root = make_project(tmp_path, solution_notebook())
    notebooks.build(root)
    nbformat.write(nbformat.v4.new_notebook(), root / "notebooks" / "99_orphan.ipynb")
    problems = notebooks.check(root)
    assert any("carries outputs" in p for p in problems)
    assert any("99_orphan.ipynb has no source" in p for p in problems)


def test_the_course_notebooks_are_in_sync():
    assert notebooks.check() == []


def test_files_are_written_byte_for_byte_as_nbformat_writes_them(tmp_path):
    """The stdlib reader/writer must agree with nbformat, and what it writes must validate."""
    root = notebooks.project_root()
    for path in sorted((root / "solutions").glob("*.ipynb")) + [None]:
        solution = nbformat.read(path, as_version=4) if path else solution_notebook()
        student = notebooks.student_version(solution)
        text = notebooks.render(student)
        assert text == nbformat.writes(nbformat.from_dict(student), version=4) + "\n"
        nbformat.validate(nbformat.reads(text, as_version=4))
        if path:  # reading a file gives back the same notebook as nbformat reads
            assert notebooks.read(path) == nbformat.read(path, as_version=4)


def test_a_file_that_is_not_a_notebook_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.ipynb"
    bad.write_text('{"nbformat": 3, "worksheets": []}')
    with pytest.raises(ValueError, match="not a version-4 Jupyter notebook"):
        notebooks.read(bad)
    bad.write_text("{ truncated")
    with pytest.raises(ValueError, match="not a readable notebook"):
        notebooks.read(bad)
