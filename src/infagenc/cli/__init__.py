"""Command-line interface: argument parsing only; every command calls the library.

Each command group lives in its own module (``data``, ``recognizer``, ``generator``, ...)
exposing ``register(subparsers)``; ``main`` wires them together.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

# command-group modules, in the order `infagenc --help` lists them
_GROUPS = ["data", "recognizer", "generator", "run", "evaluate", "report", "demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infagenc",
        description="InfAGenC: generate, filter and recycle synthetic skeleton actions to train "
                    "better recognizers on small (infant) datasets.",
    )
    parser.add_argument("--version", action="version", version=f"infagenc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _GROUPS:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue  # group not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..data.errors import DataError

    try:
        rc = args.func(args)
    except DataError as e:
        print(f"infagenc: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("infagenc: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
