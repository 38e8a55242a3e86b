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


def test_student_version_hides_solutions_keeps_indentation_and_needs_no_tag():
    student = notebooks.student_version(solution_notebook())
    ex = student.cells[1]
    assert ex.source == 'def f(x):\n    """Double x."""\n    raise NotImplementedError()\n\ncheck(f)'
    assert "tags" not in ex.metadata  # the check reports "not done yet" instead of raising
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
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "version.py").write_text('__version__ = "1.2.3"\n')
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[project.urls]\n'
                                             'Repository = "https://github.com/someone/course"\n')
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


def installable_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Lesson 01 — Something\n\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            "(https://colab.research.google.com/github/someone/course/blob/v1.2.3/notebooks/01_x.ipynb)", id="title"),
        nbformat.v4.new_code_cell('COURSE_REPOSITORY = "https://github.com/someone/course"\nCOURSE_REF = "v1.2.3"\n'
                                  'print(COURSE_REPOSITORY)', id="install"),
    ]
    return nb


def test_a_fork_points_every_badge_install_cell_and_readme_link_at_itself(tmp_path):
    root = make_project(tmp_path, installable_notebook())
    (root / "README.md").write_text(f"# X\n\n{notebooks.TABLE_BEGIN}\nold\n{notebooks.TABLE_END}\nmore\n")
    notebooks.build(root)
    assert notebooks.check(root) == []  # the default address: in sync
    readme = (root / "README.md").read_text()
    assert "github/someone/course/blob/v1.2.3/notebooks/01_x.ipynb" in readme and "Something" in readme
    assert "[locally](notebooks/01_x.ipynb)" in readme and readme.endswith("more\n")

    notebooks.build(root, repository="https://github.com/teacher/fork/", ref="spring-2027")
    student = (root / "notebooks" / "01_x.ipynb").read_text()
    assert 'COURSE_REPOSITORY = \\"https://github.com/teacher/fork\\"' in student
    assert 'COURSE_REF = \\"spring-2027\\"' in student
    assert "github/teacher/fork/blob/spring-2027/notebooks/01_x.ipynb" in student
    assert "github/teacher/fork/blob/spring-2027" in (root / "README.md").read_text()
    assert "someone" not in student
    problems = notebooks.check(root)  # a fork's build differs from the course's own, and check says so
    assert any("differs" in p for p in problems) and any("lesson table" in p for p in problems)


def test_build_into_another_folder_leaves_the_readme_and_notebooks_alone(tmp_path):
    root = make_project(tmp_path, installable_notebook())
    (root / "README.md").write_text(f"{notebooks.TABLE_BEGIN}\nold\n{notebooks.TABLE_END}\n")
    out = tmp_path / "elsewhere"
    written = notebooks.build(root, repository="file:///tmp/clone", ref="abc123", out=out)
    assert written == [out / "01_x.ipynb"] and "old" in (root / "README.md").read_text()
    assert "file:///tmp/clone" in (out / "01_x.ipynb").read_text()
    assert notebooks.colab_url("file:///tmp/clone", "abc123", "a.ipynb") == "file:///tmp/clone/blob/abc123/notebooks/a.ipynb"


def test_the_course_points_at_its_own_release():
    from course import __version__

    repository, ref = notebooks.home_address()
    assert ref == f"v{__version__}" and repository.startswith("https://")
    for path in sorted((notebooks.project_root() / "solutions").glob("*.ipynb")):
        text = path.read_text()
        assert f'COURSE_REF = \\"{ref}\\"' in text and f"blob/{ref}/notebooks/{path.name}" in text, path.name


@pytest.mark.parametrize("repo, ref", [
    ('https://github.com/x/y"; import os; os.system("touch /tmp/pwned") #', "v1"),
    ("https://github.com/x/y", "main\nimport os; os.system('id')"),
    ("https://github.com/x/\\1", "v1"),
    ("ftp://example.org/course", "v1"),
    ("https://github.com/x/y)](javascript:alert(1)", "v1"),
    ("https://github.com/x/y", "v1 --upload-pack=evil"),
    ("https://github.com/x/y", ""),
])
def test_build_refuses_an_address_or_ref_that_would_be_spliced_into_code(tmp_path, repo, ref, capsys):
    from course import cli

    root = make_project(tmp_path, installable_notebook())
    code = cli.main(["notebooks", "build", "--root", str(root), "--repo", repo, "--ref", ref])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: --re"), err
    assert not (root / "notebooks").exists()  # refused before anything was written


@pytest.mark.parametrize("repo", ["https://gitlab.example.org/a/b.git", "http://host:8080/a/b", "file:///srv/git/course",
                                  "git@github.com:teacher/fork.git"])
def test_build_writes_accepted_values_as_python_literals(tmp_path, repo):
    import ast

    root = make_project(tmp_path, installable_notebook())
    notebooks.build(root, repository=repo, ref="release/2027.1_a-b", out=tmp_path / "out")
    cell = nbformat.read(tmp_path / "out" / "01_x.ipynb", as_version=4).cells[1].source
    tree = ast.parse(cell)
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)}
    assert values == {"COURSE_REPOSITORY": repo, "COURSE_REF": "release/2027.1_a-b"}
    assert len(tree.body) == 3  # the two stamped lines and the print: nothing added


def test_only_a_valid_stamped_literal_is_normalised():
    valid = 'COURSE_REPOSITORY = "https://github.com/a/b"\nCOURSE_REF = "v1"'
    assert notebooks.unstamp(valid) == 'COURSE_REPOSITORY = "<address>"\nCOURSE_REF = "<ref>"'
    for line in ('COURSE_REPOSITORY = "https://github.com/a/b"; import os #"',
                 'COURSE_REPOSITORY = "https://github.com/a/b" + __import__("os").name',
                 'COURSE_REF = "v1\\x27"', 'COURSE_REF = "v1"  # ok?'):
        assert notebooks.unstamp(line) == line
