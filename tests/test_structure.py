"""The code's layout promises: data flows one way, and each run-format name and condition name is defined in
one place (:mod:`analysis.run_format`, :mod:`analysis.conditions`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from analysis.conditions import SPECS, AblationDesign, Condition

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reach_env", "agents", "training", "analysis")
#: What each package may import from the project: config -> env + agent -> trainer -> logs -> analysis.
#: agents.recording and training write the run format that analysis reads (analysis.run_format).
ALLOWED = {"reach_env": set(), "agents": {"reach_env", "analysis.run_format"},
           "training": {"reach_env", "agents", "analysis"}, "analysis": set()}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_flow_one_way(package):
    wrong = []
    for path in _modules(package):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in PACKAGES and top != package and not any(
                    name == allowed or name.startswith(allowed + ".") or allowed.startswith(name + ".")
                    or name == top == allowed for allowed in ALLOWED[package]):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    # analysis.run_format itself (and what the writers take from it) imports only the standard library
    assert not wrong, wrong


def test_run_format_imports_only_the_standard_library():
    imported = {name.split(".")[0] for name in _imports(ROOT / "analysis" / "run_format.py")}
    assert imported <= {"__future__", "csv", "json", "os", "re", "collections", "pathlib", "typing"}, imported


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module's code (docstrings left out), with f-strings' literal parts joined
    around a ``{}`` for each field."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            found.append((node.lineno, text))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings):
            found.append((node.lineno, node.value))
    return found


#: How a file name is *made* or *matched* (an f-string template or a regex), which only run_format may do.
NAME_MAKERS = ("episode_{}", "session_{}", "seed_{}", r"^episode_", r"^session_")


def test_file_name_patterns_are_defined_only_in_run_format():
    owner = ROOT / "analysis" / "run_format.py"
    made = [f"{path.relative_to(ROOT)}:{line}: {text!r}"
            for package in PACKAGES for path in _modules(package) if path != owner
            for line, text in _code_strings(path) if any(maker in text for maker in NAME_MAKERS)]
    assert not made, made
    assert any(maker in text for _, text in _code_strings(owner) for maker in NAME_MAKERS)


def test_condition_names_are_spelled_only_in_the_registry():
    owner = ROOT / "analysis" / "conditions.py"
    names = {c.value for c in Condition}
    # The ablation's packages ('intact' is also plain English elsewhere, e.g. an unsilenced schedule).
    spelled = [f"{path.relative_to(ROOT)}:{line}: {text!r}"
               for package in ("training", "analysis") for path in _modules(package) if path != owner
               for line, text in _code_strings(path) if text in names]
    assert not spelled, spelled


def test_the_conditions_keep_their_names_and_schedules():
    # The names are folder names and the tables' condition column: users' scripts read them.
    assert [c.value for c in Condition] == ["intact", "block_2_4", "expert_block", "expert_thalamus_block",
                                            "partial_block"]
    assert set(SPECS) == set(Condition)
    design = AblationDesign(partial_gain=0.25, expert_after=6, expert_sessions=3, sessions=9)
    schedules = {c.value: (c.spec.dopamine_block(design), c.spec.thalamus_block(design),
                           c.spec.fork_session(design), c.spec.last_session(design)) for c in Condition}
    assert schedules == {"intact": ("", "", 0, 9), "block_2_4": ("2-4", "", 0, 9),
                         "partial_block": ("2-4:0.25", "", 0, 9), "expert_block": ("7-9", "", 6, 9),
                         "expert_thalamus_block": ("", "7-9", 6, 9)}
    assert list(design.expert_range) == [7, 8, 9]
