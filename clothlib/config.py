"""One settings object for paths and switches, read from the environment once.

Paths are resolved from the package location (the repository root for an editable install),
never from the current working directory, so a notebook in ``notebooks/`` and a script at the
repository root see the same data and checkpoints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def _default_home() -> Path:
    """The repository root for an editable install, else ``~/clothlib``."""
    if (REPO_DIR / "pyproject.toml").exists():
        return REPO_DIR
    return Path.home() / "clothlib"


_FLAG_VALUES = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
                "off": False, "": False}


def _env_flag(name: str) -> bool:
    """The switch ``name`` in the environment, unset or empty meaning off.

    Strict, because a loose reading fails silently: ``CLOTHLIB_FAST=y`` read as off starts an
    hours-long full run where a few minutes' fast one was meant.
    """
    value = os.environ.get(name, "")
    try:
        return _FLAG_VALUES[value.strip().lower()]
    except KeyError:
        raise ValueError(f"{name}={value!r} is not a switch: use 1/true/yes/on or 0/false/no/off "
                         f"(or leave {name} unset for off).") from None


@dataclass(frozen=True)
class Settings:
    """Where things live and how big a run is.

    Environment variables: ``CLOTHLIB_DATA`` (folder holding ``photos/``, ``annotations/`` and
    ``label_list.mat``), ``CLOTHLIB_CACHE`` (decoded masks and other derived files),
    ``CLOTHLIB_CHECKPOINTS``, ``CLOTHLIB_FAST=1`` (tiny subsets, few iterations) and
    ``CLOTHLIB_DEVICE`` (``cpu`` unless set). In fast mode every notebook works on the first
    ``fast_photos`` photos of a split.
    """

    data_root: Path
    cache_dir: Path
    checkpoint_dir: Path
    fast: bool = False
    device: str = "cpu"
    splits_dir: Path = field(default=PACKAGE_DIR / "splits")

    @classmethod
    def from_env(cls) -> Settings:
        home = _default_home()
        data_root = Path(os.environ.get("CLOTHLIB_DATA", home / "data" / "ccp")).expanduser()
        return cls(
            data_root=data_root.resolve(),
            cache_dir=Path(os.environ.get("CLOTHLIB_CACHE", home / "data" / "cache")).expanduser().resolve(),
            checkpoint_dir=Path(os.environ.get("CLOTHLIB_CHECKPOINTS", home / "checkpoints")).expanduser().resolve(),
            fast=_env_flag("CLOTHLIB_FAST"),
            device=os.environ.get("CLOTHLIB_DEVICE", "cpu"),
        )

    fast_photos: int = 40

    def subset(self, items: list) -> list:
        """The first ``fast_photos`` items in fast mode, all of them otherwise."""
        return list(items[: self.fast_photos]) if self.fast else list(items)

    def pick(self, fast_value, full_value):
        """``fast_value`` in fast mode, else ``full_value``: fast mode changes sizes, never code paths."""
        return fast_value if self.fast else full_value


settings = Settings.from_env()


def display_path(path: str | os.PathLike) -> str:
    """``path`` as a person should read it: relative to the repository root when inside it, else
    under ``~`` when inside the home folder, else as given.

    Printed paths end up in notebooks, the published book and the demo page; an absolute path
    there names the folders of whichever machine ran it, which no reader has.
    """
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    for root, prefix in ((REPO_DIR, ""), (Path.home(), "~")):
        if path.is_relative_to(root):
            return str(Path(prefix, path.relative_to(root)))
    return str(path)


def progress_bar(iterable=None, enabled: bool = True, **kwargs):
    """``tqdm.auto``'s bar, off where ``enabled`` is False or ``TQDM_DISABLE`` is set (the scripts
    set it so that the logs of long runs hold results, not redrawn bars)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not enabled or _env_flag("TQDM_DISABLE"), **kwargs)
