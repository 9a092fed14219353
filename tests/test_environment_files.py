"""The three dependency lists stay in step: pyproject.toml (pip), environment.yml (conda) and
binder/environment.yml (the Binder image). Each conda file lists what `make install` installs
(core + the test, demo and dev extras) under conda-forge's names, with the same version pins; the
maintainers' extras (browser, book) are installed by their make targets only.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
ENVIRONMENT_FILES = [REPO / "environment.yml", REPO / "binder" / "environment.yml"]
INSTALLED_EXTRAS = {"test", "demo", "dev"}  # `make install`: pip install -e ".[dev]", dev = test + demo + tools
MAINTAINER_EXTRAS = {"browser", "book"}  # `make test-browser`, `make book` install them into .venv
CONDA_NAMES = {"torch": "pytorch", "pydensecrf2": "pydensecrf"}  # PyPI name -> conda-forge name
TOOLING = {"python", "pip"}  # the conda environment's own tools, no dependency of clothlib
# "name", "name>=1,<2", "name >=1 *build*" or "name=1.2" (conda: 1.2.*), one MatchSpec per entry
CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<version>[<>=!~][^\s]*)?(?:\s+(?P<build>\S+))?$")


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def conda_python(path: Path) -> str:
    for entry in yaml.safe_load(path.read_text())["dependencies"]:
        if isinstance(entry, str) and entry.startswith("python="):
            return entry.split("=", 1)[1]
    raise AssertionError(f"{path} pins no python")


def pip_requirements(project: dict, python: str) -> dict[str, SpecifierSet]:
    """{conda-forge name: version pins} of the core dependencies and the installed extras, with
    markers evaluated for the conda files' Python (``tomli; python_version < '3.11'`` drops out)."""
    environment = {**default_environment(), "python_version": python, "python_full_version": f"{python}.0"}
    entries = list(project["project"]["dependencies"])
    for extra in INSTALLED_EXTRAS:
        entries += project["project"]["optional-dependencies"][extra]
    found = {}
    for entry in entries:
        requirement = Requirement(entry)
        if canonicalize_name(requirement.name) == "clothlib":
            continue  # dev = clothlib[test,demo] + tools: the extras are listed in their own right
        if requirement.marker is None or requirement.marker.evaluate(environment):
            name = canonicalize_name(requirement.name)
            found[CONDA_NAMES.get(name, name)] = requirement.specifier
    return found


def conda_requirements(text: str) -> dict[str, SpecifierSet]:
    """{name: version pins} of a conda environment file, its pip: section included (PyPI names)."""
    found = {}
    for entry in yaml.safe_load(text)["dependencies"]:
        if isinstance(entry, dict):
            for line in entry["pip"]:
                requirement = Requirement(line)
                found[canonicalize_name(requirement.name)] = requirement.specifier
            continue
        match = CONDA_SPEC.match(entry.strip())
        assert match, f"not a conda spec this test reads: {entry!r}"
        name, version = canonicalize_name(match["name"]), match["version"] or ""
        if name in TOOLING:
            continue
        if re.fullmatch(r"=[^=<>!~,|]+", version):  # conda's "=1.2" means 1.2.*
            version = f"=={version[1:]}.*"
        assert "|" not in version, f"{entry!r}: alternatives have no pip equivalent"
        found[name] = SpecifierSet(version)
    return found


def differences(expected: dict[str, SpecifierSet], actual: dict[str, SpecifierSet]) -> list[str]:
    problems = [f"missing: {name}{spec}" for name, spec in sorted(expected.items()) if name not in actual]
    problems += [f"not in pyproject.toml: {name}" for name in sorted(set(actual) - set(expected))]
    problems += [f"{name}: pyproject.toml pins '{spec}', the file '{actual[name]}'"
                 for name, spec in sorted(expected.items()) if name in actual and actual[name] != spec]
    return problems


def test_every_extra_is_either_installed_or_a_maintainers_tool():
    """A new extra must be placed: in the conda files (installed by `make install`) or not."""
    extras = set(pyproject()["project"]["optional-dependencies"])
    assert extras == INSTALLED_EXTRAS | MAINTAINER_EXTRAS, f"place {extras - INSTALLED_EXTRAS - MAINTAINER_EXTRAS}"
    dev = [Requirement(entry) for entry in pyproject()["project"]["optional-dependencies"]["dev"]]
    assert {"test", "demo"} <= next(r.extras for r in dev if r.name == "clothlib"), "dev brings test and demo"
    assert 'pip install --quiet -e ".[dev]"' in (REPO / "Makefile").read_text(), "make install installs dev"


@pytest.mark.parametrize("path", ENVIRONMENT_FILES, ids=lambda path: str(path.relative_to(REPO)))
def test_conda_file_lists_pyprojects_dependencies_with_its_pins(path):
    expected = pip_requirements(pyproject(), conda_python(path))
    problems = differences(expected, conda_requirements(path.read_text()))
    assert not problems, f"{path.relative_to(REPO)} is out of step with pyproject.toml:\n" + "\n".join(problems)


def test_the_conda_files_python_is_one_pyproject_allows():
    allowed = SpecifierSet(pyproject()["project"]["requires-python"])
    for path in ENVIRONMENT_FILES:
        assert conda_python(path) in allowed, path


def test_binder_and_the_conda_route_install_the_same():
    root, binder = (conda_requirements(path.read_text()) for path in ENVIRONMENT_FILES)
    assert root == binder and conda_python(ENVIRONMENT_FILES[0]) == conda_python(ENVIRONMENT_FILES[1])


def test_the_comparison_catches_a_dropped_package_a_changed_pin_and_an_extra_one():
    """The checker itself, on edited copies of environment.yml."""
    text = ENVIRONMENT_FILES[0].read_text()
    expected = pip_requirements(pyproject(), conda_python(ENVIRONMENT_FILES[0]))
    assert not differences(expected, conda_requirements(text))
    dropped = re.sub(r"\n  - voila[^\n]*", "", text)
    assert differences(expected, conda_requirements(dropped)) == ["missing: voila<0.6,>=0.5.8"]
    repinned = text.replace("numpy>=2.0", "numpy>=1.26")
    assert differences(expected, conda_requirements(repinned)) == [
        "numpy: pyproject.toml pins '>=2.0', the file '>=1.26'"]
    extra = text.replace("  - pip\n", "  - requests\n  - pip\n")
    assert differences(expected, conda_requirements(extra)) == ["not in pyproject.toml: requests"]
    unpinned_torch = text.replace("pytorch >=2.2 *cpu*", "pytorch *cpu*")
    assert any(p.startswith("pytorch:") for p in differences(expected, conda_requirements(unpinned_torch)))
