"""Command-line flags generated from a config dataclass, so the dataclass stays the one source of
every hyper-parameter and its default (``--batch-size`` for ``batch_size``)."""
from __future__ import annotations

import argparse
import dataclasses

_TYPES = {"int": int, "float": float, "str": str}


def add_config_flags(parser: argparse.ArgumentParser, config_class, choices: dict[str, tuple] | None = None) -> None:
    """One flag per field of ``config_class``; ``choices`` restricts some of them."""
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        kind = _TYPES[str(field.type).split(" |")[0].split("[")[-1].rstrip("]").split(",")[0]]
        if isinstance(default, tuple):
            parser.add_argument(flag, type=kind, nargs=len(default), default=default, metavar=("A", "B")[:len(default)])
        else:
            parser.add_argument(flag, type=kind, default=default, choices=(choices or {}).get(field.name),
                                help=f"default: {default}")


def config_from_args(config_class, args: argparse.Namespace):
    """The config an ``add_config_flags`` parser's arguments describe."""
    return config_class.from_dict({f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)})
