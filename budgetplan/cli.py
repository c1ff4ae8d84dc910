"""The ``budgetplan`` command: one entry point, one sub-command per stage.

This module only parses arguments and prints; every sub-command lives in
``budgetplan/commands/<name>.py`` as ``register(subparsers)`` that adds its parser and sets
``func`` to a thin function over the library. Bad input raises a ``BudgetplanError``, which is
printed as one line with a non-zero exit code, never a traceback; so is an ``OSError`` (a full
disk, a read-only cache, an ``--out`` that is a folder: exit 1), input nested too deep for
Python (``RecursionError``) and running out of memory. A closed pipe (``budgetplan demo info |
head``) ends the command quietly. Any other exception is a bug in budgetplan: it too ends in one
line, ``budgetplan: internal error: ...`` (exit 70), which names a file in the cache that holds
its traceback; ``BUDGETPLAN_DEBUG=1`` lets the exception through instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from budgetplan.errors import BudgetplanError

#: Longest error message printed (a message echoing a huge input is cut, never a wall of text).
MAX_MESSAGE = 2000
#: Exit code of an internal error (a bug in budgetplan): ``EX_SOFTWARE`` of BSD's sysexits.h.
INTERNAL_ERROR = 70

# Modules under budgetplan.commands, in the order their sub-commands are listed in --help.
COMMAND_MODULES = (
    "demo",
    "embed",
    "ingest",
    "relations",
    "graph",
    "simulate",
    "recommend",
    "export",
    "labelstudio",
    "answers",
    "app",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="budgetplan",
        description="Which labels to annotate for a rare imaging target, within a budget.",
    )
    parser.add_argument("--version", action="version", version=f"budgetplan {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"budgetplan.commands.{name}")
        except ModuleNotFoundError as exc:  # a stage not built yet must not break the others
            if exc.name != f"budgetplan.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)  # --help and usage errors print here
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        result = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BudgetplanError as exc:
        return _error(str(exc), 2)
    except BrokenPipeError:
        _silence_stdout()
        return 141  # what a shell reports for a command ended by SIGPIPE
    except OSError as exc:
        from budgetplan.io import describe_os_error

        return _error(describe_os_error(exc), 1)
    except RecursionError:
        return _error("an input is nested too deeply to read (is it a budgetplan file?)", 2)
    except MemoryError:
        return _error("out of memory; try a smaller input or --quick", 1)
    except KeyboardInterrupt:
        print("budgetplan: interrupted; finished results are kept in the cache", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line for the user, the traceback kept
        from budgetplan.bug_report import debugging

        if debugging():
            raise
        return _internal_error(exc)
    return int(result or 0)


def _internal_error(exc: Exception) -> int:
    """One ``budgetplan: internal error:`` line for an exception budgetplan did not expect (a
    bug), naming the file that keeps its traceback; returns ``INTERNAL_ERROR``."""
    from budgetplan.bug_report import describe_bug

    try:
        print(f"budgetplan: internal error: {describe_bug(exc)}", file=sys.stderr)
    except OSError:  # stderr itself is gone
        pass
    return INTERNAL_ERROR


def _error(message: str, code: int) -> int:
    """Print one ``budgetplan: error:`` line (cut to MAX_MESSAGE characters); return ``code``."""
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + f"... ({len(message):,} characters)"
    try:
        print(f"budgetplan: error: {message}", file=sys.stderr)
    except OSError:  # stderr itself is gone
        pass
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's flush at exit does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real stdout (e.g. captured in tests)
        pass


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("budgetplan")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
