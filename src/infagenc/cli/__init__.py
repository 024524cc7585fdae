"""Command-line interface: argument parsing only; every command calls the library.

Each command group lives in its own module (``data``, ``recognizer``, ``generator``, ...)
exposing ``register(subparsers)``; ``main`` wires them together.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__

# command-group modules, in the order `infagenc --help` lists them
_GROUPS = ["data", "recognizer", "generator", "run", "evaluate", "report", "viz", "demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infagenc",
        description="InfAGenC: generate, filter and recycle synthetic skeleton actions to train "
                    "better recognizers on small (infant) datasets.",
    )
    parser.add_argument("--version", action="version", version=f"infagenc {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the Python traceback (default: one line saying what to do)")
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
    """Run one command; every failure is one line on stderr (exit 2), the traceback only
    with ``--debug``. Output piped into a reader that stops early (``| head``) ends the
    command quietly (exit 1), never with a BrokenPipeError traceback."""
    try:
        rc = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return rc
    except BrokenPipeError:
        _quiet_stdout()
        return 1


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush of what is left for a
    closed pipe does not fail again (Python's documented way to handle SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (e.g. captured)
        pass


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except KeyboardInterrupt:
        print("infagenc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except Exception as e:  # noqa: BLE001 - every failure a user meets is reported, not dumped
        if args.debug:
            raise
        print(f"infagenc: error: {error_line(e)}", file=sys.stderr)
        return 2
    return int(rc or 0)


def error_line(e: BaseException) -> str:
    """One line for a user: the message of the errors the library raises for bad input and
    files; for anything else its type too, and where to get the traceback."""
    from ..config import ConfigError
    from ..data.errors import DataError
    from ..train.checkpoint import CheckpointError

    if isinstance(e, PermissionError):
        where = f" {e.filename}" if e.filename else ""
        return f"permission denied:{where} (choose a folder you can write to, e.g. another --out)"
    if isinstance(e, (FileNotFoundError, IsADirectoryError, NotADirectoryError)) and e.filename:
        return f"{e.filename}: {e.strerror or type(e).__name__}"
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror or e}"
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, (DataError, ConfigError, CheckpointError, ValueError, FileNotFoundError)):
        return text
    return f"{type(e).__name__}: {text} (an internal error: run with --debug for the traceback and report it)"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
