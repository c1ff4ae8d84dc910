"""The command line itself: every stage is listed, and starting it stays fast."""

from __future__ import annotations

import subprocess
import sys

from budgetplan.cli import COMMAND_MODULES, build_parser


def test_every_stage_has_its_sub_command() -> None:
    help_text = build_parser().format_help()
    for name in COMMAND_MODULES:
        assert name in help_text


def test_building_the_parser_does_not_import_torch() -> None:
    """`budgetplan --help` and argument errors must answer at once; torch and ray cost seconds."""
    code = (
        "import sys, budgetplan.cli as c; c.build_parser(); "
        "print('torch' in sys.modules, 'ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_building_the_parser_imports_no_heavy_library() -> None:
    """``budgetplan --help`` and a mistyped command answer in well under a second: the parser's
    choices come from light modules (relations.defaults, relations.names, planner.choices)."""
    import subprocess
    import sys

    code = (
        "import sys; from budgetplan.cli import build_parser; build_parser(); "
        "print(' '.join(m for m in ('pandas', 'networkx', 'scipy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
