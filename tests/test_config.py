"""``display_path``: what people read names no folder of the machine that wrote it; ``_env_flag``: a
switch in the environment is read strictly, never silently as off."""
from __future__ import annotations

from pathlib import Path

import pytest

from clothlib.config import REPO_DIR, Settings, _env_flag, display_path


def test_a_path_in_the_repository_is_shown_from_its_root():
    assert display_path(REPO_DIR / "checkpoints" / "effnet_fcn.pt") == "checkpoints/effnet_fcn.pt"
    assert display_path(REPO_DIR) == "."


def test_a_path_in_the_home_folder_is_shown_under_tilde(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    assert display_path(tmp_path / "clothlib" / "data") == "~/clothlib/data"


def test_other_paths_are_shown_as_given():
    assert display_path("/opt/ccp/photos") == "/opt/ccp/photos"
    assert display_path("checkpoints/net1.pt") == "checkpoints/net1.pt"


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True), (" on ", True),
                                             ("0", False), ("False", False), ("no", False), ("off", False),
                                             ("", False)])
def test_a_switch_accepts_the_usual_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("CLOTHLIB_FAST", value)
    assert _env_flag("CLOTHLIB_FAST") is expected


def test_an_unset_switch_is_off(monkeypatch):
    monkeypatch.delenv("CLOTHLIB_FAST", raising=False)
    assert _env_flag("CLOTHLIB_FAST") is False


@pytest.mark.parametrize("value", ["2", "y", "enabled", "fast"])
def test_any_other_value_is_an_error_naming_the_variable_and_the_accepted_values(monkeypatch, value):
    monkeypatch.setenv("CLOTHLIB_FAST", value)
    with pytest.raises(ValueError, match=f"CLOTHLIB_FAST='{value}'.*1/true/yes/on or 0/false/no/off"):
        Settings.from_env()
