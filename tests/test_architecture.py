"""The package's shape: imports flow one way (parsed, never executed)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "course"

#: Lowest first. A module may import modules of its own layer or below, never above.
LAYERS = [
    ("bottom", ["course.version", "course.errors", "course.io", "course.config", "course.backend", "course.devices", "course.losses", "course.metrics", "course.foundations",
                "course.plotting", "course.data", "course.results", "course.lesson_costs"]),
    ("models", ["course.models"]),
    ("evaluation and runs", ["course.evaluation", "course.runs"]),
    ("jobs", ["course.jobs"]),
    ("top", ["course.checks", "course.grading", "course.benchmarks", "course.notebooks", "course.cli", "course.__main__", "course"]),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Course modules that ``name`` imports anywhere in its file (function-local imports included)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            # `from . import x` names x, not the package it is read from
            candidates = ([base] if node.module else []) + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {c for c in candidates if c in known and c != name}
    return found


def layer_of(name: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"{name} is in no layer: add it to LAYERS in {__file__}")
    return best


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack + [nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_no_import_cycle_among_course_modules():
    cycle = find_cycle({k: {v for v in vs if v != "course"} for k, vs in graph().items()})
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_flow_down_the_layers():
    wrong = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
             for a, targets in graph().items() for b in targets
             if b != "course" and layer_of(b) > layer_of(a)]
    assert not wrong, "\n".join(wrong)


def test_model_modules_know_nothing_of_jobs_runs_or_the_command_line():
    for name, targets in graph().items():
        if name.startswith("course.models"):
            bad = {t for t in targets if t.startswith(("course.jobs", "course.runs", "course.cli", "course.notebooks"))}
            assert not bad, f"{name} imports {sorted(bad)}"


def test_the_checker_would_catch_a_cycle_and_an_upward_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer_of("course.models.dcgan") > layer_of("course.data.sources")
    assert layer_of("course.jobs.dcgan") > layer_of("course.runs")


@pytest.mark.parametrize("job", ["cnn", "dcgan", "vae", "cyclegan"])
def test_every_job_is_built_on_the_shared_skeleton(job):
    import importlib

    from course.jobs.base import TrainJob

    module = importlib.import_module(f"course.jobs.{job}")
    jobs = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, TrainJob) and v is not TrainJob]
    assert len(jobs) == 1 and jobs[0].name == job and jobs[0].Config is module.TrainConfig
