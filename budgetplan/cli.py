"""The ``budgetplan`` command: one entry point, one sub-command per stage.

This module only parses arguments and prints; every sub-command lives in
``budgetplan/commands/<name>.py`` as ``register(subparsers)`` that adds its parser and sets
``func`` to a thin function over the library. Bad input raises a ``BudgetplanError``, which is
printed as one line with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from budgetplan.errors import BudgetplanError

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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except BudgetplanError as exc:
        print(f"budgetplan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("budgetplan: interrupted; finished results are kept in the cache", file=sys.stderr)
        return 130
    return int(result or 0)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("budgetplan")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
