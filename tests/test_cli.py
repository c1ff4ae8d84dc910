"""The command line itself: every stage is listed, and starting it stays fast."""

from __future__ import annotations

import subprocess
import sys

from budgetplan.bug_report import DEBUG_ENV
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


def _parser_with_a_bug(monkeypatch):  # type: ignore[no-untyped-def]
    """``budgetplan`` whose one sub-command hits a bug in the library (an exception no stage
    expects), so that the tests need no data."""
    import argparse

    from budgetplan import cli

    def broken(args: argparse.Namespace) -> int:
        raise ValueError("shapes (3,) and (4,) not aligned")  # what a bug in the library raises

    def build() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="budgetplan")
        sub = parser.add_subparsers(dest="command")
        sub.add_parser("plan").set_defaults(func=broken)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)
    return cli


def test_a_bug_ends_in_one_line_naming_the_file_with_its_traceback(
    tmp_path, monkeypatch, capsys
) -> None:
    """An exception budgetplan did not expect is a bug: the user sees one line and exit code 70;
    the traceback is kept in the cache for the report, written whole."""
    cli = _parser_with_a_bug(monkeypatch)
    monkeypatch.setenv("BUDGETPLAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert cli.main(["plan"]) == cli.INTERNAL_ERROR == 70
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    line = err[0]
    assert line.startswith("budgetplan: internal error: ValueError: shapes (3,) and (4,)")
    saved = sorted((tmp_path / "cache" / "errors").glob("*.txt"))
    assert len(saved) == 1 and str(saved[0]) in line
    text = saved[0].read_text(encoding="utf-8")
    assert text.startswith("Traceback (most recent call last)")
    assert "in broken" in text and text.rstrip().endswith("not aligned")
    assert not list((tmp_path / "cache" / "errors").glob("*.tmp"))


def test_a_bug_still_ends_in_one_line_when_the_cache_cannot_be_written(
    tmp_path, monkeypatch, capsys
) -> None:
    cli = _parser_with_a_bug(monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BUDGETPLAN_CACHE", str(blocker / "cache"))
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert cli.main(["plan"]) == cli.INTERNAL_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("budgetplan: internal error: ValueError")
    assert f"{DEBUG_ENV}=1" in err[0]
    assert blocker.read_text() == "not a folder"


def test_budgetplan_debug_lets_a_bug_through_with_its_traceback(tmp_path, monkeypatch) -> None:
    import pytest

    cli = _parser_with_a_bug(monkeypatch)
    monkeypatch.setenv("BUDGETPLAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(ValueError, match="not aligned"):
        cli.main(["plan"])
    assert not (tmp_path / "cache" / "errors").exists()


def test_budgetplan_input_errors_stay_plain_errors(tmp_path, monkeypatch, capsys) -> None:
    """Only what no stage expects is an internal error: bad input keeps its own one line."""
    from budgetplan import cli

    monkeypatch.setenv("BUDGETPLAN_CACHE", str(tmp_path / "cache"))
    missing = tmp_path / "no-such-plan.json"
    code = cli.main(["export", str(missing), "--format", "csv", "--out", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    assert code in (1, 2) and err.startswith("budgetplan: error:") and "internal" not in err
    assert not (tmp_path / "cache" / "errors").exists()
