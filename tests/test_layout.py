"""The package's shape, as DESIGN.md draws it: module names are modules, imports go one way only.

Imports are read from the source (every ``import`` statement, including those inside functions:
an import deferred into a function to dodge a cycle is still a dependency), so a layering slip
fails here before it becomes a cycle.
"""
from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import types
from pathlib import Path

import pytest

import clothlib

PACKAGE_DIR = Path(clothlib.__file__).parent

# DESIGN.md's layers, lowest first. A module may import from its own layer's *same* unit and from
# any lower layer; never upwards, never sideways into another unit of its layer. The package root
# sits above every module (it only re-exports), and the command lines above it: each ``__main__`` is
# a unit of its own, which may import anything but another command line.
ROOT = "clothlib"
COMMAND_LINES = "__main__"
LAYERS = [
    {"foundation", "config", "io", "timing", "cli", "metrics", "paper"},
    {"devices"},
    {"engine", "results"},
    {"harness"},
    {"data"},
    {"parsing", "retrieval", "viz"},
    {"hashing"},
    {"pipeline", "widgets", "tables", "env", "exercises"},
    {"webdemo", "endtoend"},
    {ROOT},
    {COMMAND_LINES},
]


def _unit(module: str) -> str:
    """``clothlib.parsing.crf`` -> ``parsing``; ``clothlib.io`` -> ``io``; ``clothlib`` -> the root;
    a command line (``clothlib.parsing.__main__``) is its own unit."""
    if module == ROOT or module.endswith(f".{COMMAND_LINES}"):
        return module
    return module.split(".")[1]


def _layer(unit: str) -> int:
    if unit.endswith(f".{COMMAND_LINES}"):
        unit = COMMAND_LINES
    for index, units in enumerate(LAYERS):
        if unit in units:
            return index
    raise AssertionError(f"clothlib.{unit} is in no layer of tests/test_layout.py (and DESIGN.md): place it")


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


KNOWN = {name for name, _ in _modules()}


def _imports(module: str, path: Path) -> set[str]:
    """The clothlib modules ``module`` imports (relative imports resolved). ``from .. import harness``
    imports the module ``clothlib.harness``; ``from .. import __version__`` imports the root."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.update(f"{target}.{alias.name}" if f"{target}.{alias.name}" in KNOWN else target
                         for alias in node.names)
    return names & KNOWN


def test_every_submodule_name_is_a_module():
    """``import clothlib.hashing.training as m`` must give the module, never a function named like it."""
    for info in pkgutil.walk_packages(clothlib.__path__, "clothlib."):
        module = importlib.import_module(info.name)
        parent_name, _, child = info.name.rpartition(".")
        parent = importlib.import_module(parent_name)
        attribute = getattr(parent, child, module)
        assert isinstance(attribute, types.ModuleType), (
            f"{parent_name}.{child} is a {type(attribute).__name__}, not the module {info.name}: rename one of them")


def test_imports_go_one_way():
    problems = []
    for module, path in _modules():
        unit, level = _unit(module), _layer(_unit(module))
        for target in _imports(module, path):
            other = _unit(target)
            if other != unit and _layer(other) >= level:
                problems.append(f"{module} imports {target} (layer {_layer(other)} >= {level})")
    assert not problems, "imports against DESIGN.md's layers:\n" + "\n".join(problems)


def test_layout_check_catches_an_upward_import(tmp_path):
    """The checker itself: a data module importing hashing, or the version from the package root, is
    reported; a module imported through the root's name (``from .. import harness``) is that module."""
    source = tmp_path / "bad.py"
    source.write_text("from .. import __version__, harness\nfrom ..hashing import features\n\n"
                      "def f():\n    from ..retrieval.codes import pack_codes\n")
    found = _imports("clothlib.data.bad", source)
    assert found == {"clothlib", "clothlib.harness", "clothlib.hashing.features", "clothlib.retrieval.codes"}
    level = _layer(_unit("clothlib.data.bad"))
    assert _layer(_unit("clothlib.hashing.features")) > level and _layer(_unit("clothlib")) > level
    assert _layer(_unit("clothlib.harness")) < level


def test_command_lines_are_the_top_and_one_does_not_import_another(tmp_path):
    source = tmp_path / "__main__.py"
    source.write_text("from ..parsing.__main__ import main\nfrom .. import pipeline\n")
    found = _imports("clothlib.hashing.__main__", source)
    assert found == {"clothlib.parsing.__main__", "clothlib.pipeline"}
    assert _unit("clothlib.parsing.__main__") != _unit("clothlib.hashing.__main__")
    top = _layer(_unit("clothlib.hashing.__main__"))
    assert top == _layer(_unit("clothlib.parsing.__main__")) == len(LAYERS) - 1 > _layer(ROOT)


@pytest.mark.parametrize("unit", sorted(set().union(*LAYERS) - {ROOT, COMMAND_LINES}))
def test_every_layer_unit_exists(unit):
    """A unit named in the layers but gone from the package means DESIGN.md and this test are stale."""
    assert (PACKAGE_DIR / unit).is_dir() or (PACKAGE_DIR / f"{unit}.py").exists(), unit


def _drawn_layers() -> dict[int, set[str]]:
    """The words of each numbered row (and the unnumbered rows under it) of DESIGN.md's layer diagram."""
    design = (PACKAGE_DIR.parent / "DESIGN.md").read_text()
    diagram = design[design.index("## Layers"):].split("```")[1]
    rows: dict[int, set[str]] = {}
    number = None
    for line in diagram.splitlines():
        first = line.split()[0] if line.split() else ""
        if first.isdigit():
            number = int(first)
            rows[number] = set()
        if number is not None:
            rows[number] |= set(re.findall(r"[A-Za-z_]+", line))
    return rows


def test_design_md_draws_these_layers():
    """DESIGN.md's diagram has LAYERS' rows, numbered from the bottom, each naming its units."""
    drawn = _drawn_layers()
    assert sorted(drawn) == list(range(len(LAYERS))), f"DESIGN.md numbers its layers {sorted(drawn)}"
    missing = {index: sorted(units - drawn[index]) for index, units in enumerate(LAYERS) if units - drawn[index]}
    assert not missing, f"DESIGN.md's layer rows lack these units of tests/test_layout.py's LAYERS: {missing}"
