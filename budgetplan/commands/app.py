"""``budgetplan app``: start the Streamlit app (``streamlit run app/streamlit_app.py``)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from budgetplan.errors import BudgetplanError
from budgetplan.paths import PROJECT_ROOT

APP_SCRIPT = PROJECT_ROOT / "app" / "streamlit_app.py"
#: Largest upload the app accepts (MB); also in .streamlit/config.toml for `streamlit run`.
UPLOAD_LIMIT_MB = 512


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "app",
        help="start the web app (Data, Relations, Simulate, Plan pages)",
        description=(
            "Start budgetplan's Streamlit app on ADDRESS:PORT (default 127.0.0.1:8501) and print "
            "its URL. Works on the embedded default (simulated features) with no data of yours; "
            "--store opens another store first."
        ),
    )
    p.add_argument(
        "--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    p.add_argument(
        "--store",
        default=None,
        help=(
            "store opened first: a dataset directory, 'demo', or 'demo:N' "
            "(a small demo of N images)"
        ),
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="offer tiny simulations (seconds instead of minutes; for a first look and tests)",
    )
    p.add_argument(
        "--browser", action="store_true", help="open a browser window (default: headless server)"
    )
    p.add_argument("--dry-run", action="store_true", help="print the streamlit command and exit")
    p.set_defaults(func=run)


def streamlit_command(args: argparse.Namespace, script: Path = APP_SCRIPT) -> list[str]:
    """The ``python -m streamlit run`` command line for ``args``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.address",
        str(args.address),
        "--server.port",
        str(int(args.port)),
        "--server.headless",
        "false" if args.browser else "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--server.maxUploadSize",
        str(UPLOAD_LIMIT_MB),
    ]


def app_environment(args: argparse.Namespace, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the app process: ``--store`` and ``--quick`` as the app's env vars."""
    from budgetplan.app_support import QUICK_ENV, STORE_ENV, parse_store

    env = dict(os.environ if base is None else base)
    if args.store is not None:
        choice = parse_store(args.store)  # a malformed "demo:x" fails here, as one line
        spec = choice.spec if choice.kind == "demo" else str(Path(choice.path or "").resolve())
        env[STORE_ENV] = spec
    if args.quick:
        env[QUICK_ENV] = "1"
    return env


def run(args: argparse.Namespace) -> int:
    if not 0 < int(args.port) < 65536:
        raise BudgetplanError(f"--port {args.port} is not a port number (1-65535)")
    if not APP_SCRIPT.is_file():
        raise BudgetplanError(
            f"{APP_SCRIPT}: the app is not there (is budgetplan installed from its source tree?)"
        )
    env = app_environment(args)
    cmd = streamlit_command(args)
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    print(f"budgetplan app: http://{args.address}:{args.port}  (Ctrl+C stops it)", flush=True)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
