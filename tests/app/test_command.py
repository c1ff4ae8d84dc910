"""`budgetplan app`: the streamlit command line it runs and its argument errors."""

from __future__ import annotations

import argparse
import shlex

import pytest

from budgetplan.cli import build_parser, main
from budgetplan.commands.app import APP_SCRIPT, app_environment, streamlit_command


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["app", *argv])


def test_dry_run_prints_streamlit_run_with_server_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", "--dry-run", "--address", "0.0.0.0", "--port", "9123"]) == 0
    cmd = shlex.split(capsys.readouterr().out)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(APP_SCRIPT)
    flags = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert flags["--server.address"] == "0.0.0.0"
    assert flags["--server.port"] == "9123"
    assert flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert APP_SCRIPT.is_file()


def test_store_and_quick_reach_the_app_as_environment(tmp_path) -> None:
    env = app_environment(parse("--store", "demo:200", "--quick"), base={})
    assert env == {"BUDGETPLAN_APP_STORE": "demo:200", "BUDGETPLAN_APP_QUICK": "1"}
    env = app_environment(parse("--store", str(tmp_path / "ds")), base={})
    assert env["BUDGETPLAN_APP_STORE"] == str((tmp_path / "ds").resolve())
    assert "--server.headless" in streamlit_command(parse("--browser"))
    assert (
        streamlit_command(parse("--browser"))[
            streamlit_command(parse("--browser")).index("--server.headless") + 1
        ]
        == "false"
    )


def test_bad_arguments_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", "--dry-run", "--store", "demo:lots"]) == 2
    assert "demo:N" in capsys.readouterr().err
    assert main(["app", "--dry-run", "--port", "70000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "port" in err
