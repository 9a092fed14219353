"""``display_path``: what people read names no folder of the machine that wrote it."""
from __future__ import annotations

from pathlib import Path

from clothlib.config import REPO_DIR, display_path


def test_a_path_in_the_repository_is_shown_from_its_root():
    assert display_path(REPO_DIR / "checkpoints" / "effnet_fcn.pt") == "checkpoints/effnet_fcn.pt"
    assert display_path(REPO_DIR) == "."


def test_a_path_in_the_home_folder_is_shown_under_tilde(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    assert display_path(tmp_path / "clothlib" / "data") == "~/clothlib/data"


def test_other_paths_are_shown_as_given():
    assert display_path("/opt/ccp/photos") == "/opt/ccp/photos"
    assert display_path("checkpoints/net1.pt") == "checkpoints/net1.pt"
