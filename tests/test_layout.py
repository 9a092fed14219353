"""The package's shape, as DESIGN.md draws it: module names are modules, imports go one way only.

Imports are read from the source (every ``import`` statement, including those inside functions:
an import deferred into a function to dodge a cycle is still a dependency), so a layering slip
fails here before it becomes a cycle.
"""
from __future__ import annotations

import ast
import importlib
import pkgutil
import types
from pathlib import Path

import pytest

import clothlib

PACKAGE_DIR = Path(clothlib.__file__).parent

# DESIGN.md's layers, lowest first. A module may import from its own layer's *same* unit and from
# any lower layer; never upwards, never sideways into another unit of its layer.
LAYERS = [
    {"config", "io", "timing", "cli", "metrics", "paper"},
    {"engine", "results"},
    {"harness"},
    {"data"},
    {"parsing", "retrieval", "viz"},
    {"hashing"},
    {"pipeline", "widgets", "tables", "env", "exercises"},
    {"webdemo"},
]
COMMAND_LINES = "__main__"  # a stage's command line sits above everything: it may import any layer


def _unit(module: str) -> str:
    """``clothlib.parsing.crf`` -> ``parsing``; ``clothlib.io`` -> ``io``."""
    return module.split(".")[1]


def _layer(unit: str) -> int:
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


def _imports(module: str, path: Path) -> set[str]:
    """Absolute names of the clothlib modules ``module`` imports (relative imports resolved)."""
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
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("clothlib.") and len(name.split(".")) > 1}


def _real_modules(names: set[str], known: set[str]) -> set[str]:
    """Keep the names that are modules (``from .x import f`` also yields ``x.f``)."""
    return {name for name in names if name in known}


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
    modules = _modules()
    known = {name for name, _ in modules}
    problems = []
    for module, path in modules:
        if module == "clothlib" or module.endswith(COMMAND_LINES):
            continue
        unit, level = _unit(module), _layer(_unit(module))
        for target in _real_modules(_imports(module, path), known):
            if target == "clothlib":
                continue
            other = _unit(target)
            if other == unit:
                continue
            if _layer(other) >= level:
                problems.append(f"{module} imports {target} (layer {_layer(other)} >= {level})")
    assert not problems, "imports against DESIGN.md's layers:\n" + "\n".join(problems)


def test_layout_check_catches_an_upward_import(tmp_path):
    """The checker itself: a data module importing hashing is reported."""
    source = tmp_path / "bad.py"
    source.write_text("from ..hashing import features\n\ndef f():\n    from ..retrieval.codes import pack_codes\n")
    found = _imports("clothlib.data.bad", source)
    assert {"clothlib.hashing.features", "clothlib.retrieval.codes"} <= found
    assert _layer(_unit("clothlib.hashing.features")) > _layer(_unit("clothlib.data.bad"))


@pytest.mark.parametrize("unit", sorted(set().union(*LAYERS)))
def test_every_layer_unit_exists(unit):
    """A unit named in the layers but gone from the package means DESIGN.md and this test are stale."""
    assert (PACKAGE_DIR / unit).is_dir() or (PACKAGE_DIR / f"{unit}.py").exists(), unit
