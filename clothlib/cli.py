"""What every command line shares: flags generated from a config dataclass, so the dataclass stays
the one source of every hyper-parameter and its default (``--batch-size`` for ``batch_size``); the
argument types that refuse a count of 0 or -3 while parsing; and the check that an output can be
written, made before any work, so that a long run never ends in an error that loses its result."""
from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from pathlib import Path

_TYPES = {"int": int, "float": float, "str": str}
# Integer config fields are counts and sizes (epochs, batch size, heights, photos): at least 1, except
# these, where 0 means something (a seed; DataLoader workers: 0 loads in the main process).
_INT_MINIMUM = {"seed": 0, "workers": 0}


def whole_number(minimum: int = 1):
    """An argparse ``type``: an integer of at least ``minimum``, else argparse's usage error (before any
    work; ``int`` alone lets ``--epochs 0`` release an untrained network)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: give {minimum} or more")
        return value

    parse.__name__ = "whole number"  # what argparse names in "invalid ... value"
    return parse


positive_int = whole_number(1)


def check_output(parser: argparse.ArgumentParser, path: str | os.PathLike, option: str, *, folder: bool = False,
                 instead: str = "") -> Path:
    """``path`` if it can be written as a file (``folder``: as a folder), else ``parser.error`` saying
    why, naming ``option`` and ``instead`` (the option or environment variable that picks another place).

    It probes the nearest existing folder by making (and removing) a temporary file there, which
    catches a read-only mount as well as missing permissions."""
    path = Path(path).expanduser()
    how = f"; pass {option} elsewhere" + (f" or {instead}" if instead else "")
    if path.is_dir() and not folder:
        parser.error(f"{option} {path} is a folder; give the file to write")
    if path.exists() and folder and not path.is_dir():
        parser.error(f"{option} {path} is a file; give a folder")
    existing = path if folder and path.is_dir() else path.parent
    while not existing.exists():
        existing = existing.parent
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".clothlib-write-probe-")
    except OSError as exc:
        parser.error(f"cannot write {path}: {existing} is not writable ({exc.strerror}){how}")
    os.close(fd)
    os.unlink(probe)
    return path


def add_config_flags(parser: argparse.ArgumentParser, config_class, choices: dict[str, tuple] | None = None) -> None:
    """One flag per field of ``config_class``; ``choices`` restricts some of them."""
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        kind = _TYPES[str(field.type).split(" |")[0].split("[")[-1].rstrip("]").split(",")[0]]
        if kind is int:
            kind = whole_number(_INT_MINIMUM.get(field.name, 1))
        if isinstance(default, tuple):
            parser.add_argument(flag, type=kind, nargs=len(default), default=default, metavar=("A", "B")[:len(default)])
        else:
            parser.add_argument(flag, type=kind, default=default, choices=(choices or {}).get(field.name),
                                help=f"default: {default}")


def config_from_args(config_class, args: argparse.Namespace):
    """The config an ``add_config_flags`` parser's arguments describe."""
    return config_class.from_dict({f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)})
