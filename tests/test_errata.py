"""Every erratum of the source material is taught in its lesson and guarded by a test that names it."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ERRATA = {  # erratum -> the lesson that teaches the correction
    **{f"F{i}": "00_foundations" for i in range(1, 5)},
    **{f"C{i}": "01_cnn_classifier" for i in range(1, 4)},
    **{f"G{i}": "02_dcgan" for i in range(1, 11)},
    **{f"V{i}": "03_vae" for i in range(1, 8)},
    **{f"Y{i}": "04_cyclegan" for i in range(1, 4)},
    **{f"E{i}": "05_evaluation" for i in range(1, 3)},
    **{f"D{i}": "06_diffusion" for i in range(1, 6)},  # the course's own list (the seed material has no diffusion)
}


def guarded() -> dict[str, list[str]]:
    """Erratum -> the tests whose docstring says it guards it ("Guards G3 and G5: ...")."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                doc = ast.get_docstring(node) or ""
                for sentence in re.findall(r"Guards ([^:.]*)", doc):
                    for erratum in re.findall(r"\b([CGVYFED]\d+)\b", sentence):
                        found.setdefault(erratum, []).append(f"{path.name}::{node.name}")
    return found


@pytest.mark.parametrize("erratum", sorted(ERRATA, key=lambda e: (e[0], int(e[1:]))))
def test_each_erratum_is_guarded_by_a_named_test_and_taught_in_its_lesson(erratum):
    assert guarded().get(erratum), f"no test docstring says 'Guards {erratum}'"
    lesson = ROOT / "solutions" / f"{ERRATA[erratum]}.ipynb"
    assert re.search(rf"\*\*{erratum}\b", lesson.read_text()), f"{lesson.name} does not name {erratum} in bold"


def test_the_finder_reads_lists_of_errata():
    doc = "Guards G3, G5 and G7: ..."
    assert re.findall(r"\b([CGVYFE]\d+)\b", re.findall(r"Guards ([^:.]*)", doc)[0]) == ["G3", "G5", "G7"]
