"""A real ``budgetplan simulate`` process killed (SIGKILL) mid-run resumes from its cache.

The injected-exception test (test_runner_cache.py) shows the runner's logic; this one shows the
promise users rely on when a machine dies: runs written before the kill are complete files that
the rerun reuses unchanged (not retrained), and the rerun completes the results.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Real training on scikit-learn's digits, one replica per job so that runs land one by one.
RECIPE = """\
target: "8"
target_positives: 15
budget: 600
data:
  kind: digits
simulation:
  pool_images: null
  val_images: null
  dim: null
  initial_seeds: 2
  max_seeds: 2
  max_replicas: 1
train:
  hidden: 32
  batch_size: 64
  max_epochs: 4
  patience: 4
"""
CLI = "import sys; from budgetplan.cli import main; sys.exit(main(sys.argv[1:]))"
TIMEOUT = 90.0


def _simulate(recipe: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, "simulate", "--recipe", str(recipe)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _runs(root: Path) -> list[Path]:
    return sorted(root.glob("*/*.json")) if root.exists() else []


def kill_after_first_run(proc: subprocess.Popen, runs_dir: Path) -> None:
    """SIGKILL ``proc`` as soon as its first run is in the cache (within ``TIMEOUT``)."""
    deadline = time.monotonic() + TIMEOUT
    try:
        while not _runs(runs_dir):
            assert proc.poll() is None, f"simulate ended before any run: {proc.communicate()}"
            assert time.monotonic() < deadline, "no run finished within the timeout"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def _counts(stdout: str) -> tuple[int, int]:
    m = re.search(r"\((\d+) runs trained, (\d+) from cache\)", stdout)
    assert m is not None, stdout
    return int(m.group(1)), int(m.group(2))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkilled_simulate_keeps_finished_runs_and_resumes(tmp_path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    env = {**os.environ, "BUDGETPLAN_CACHE": str(tmp_path / "cache")}
    runs_dir = tmp_path / "cache" / "runs"

    kill_after_first_run(_simulate(recipe, env), runs_dir)

    kept = _runs(runs_dir)
    # every file under a final name is a complete record (atomic write: temp file + rename);
    # a temp file the kill may have left never counts as a result
    for f in kept:
        assert "auc" in json.loads(f.read_text())
    leftovers = [p for p in runs_dir.rglob("*") if p.is_file() and p.suffix != ".json"]
    assert all(p.name.startswith(".") and p.suffix == ".tmp" for p in leftovers)
    mtimes = {f: f.stat().st_mtime_ns for f in kept}

    rerun = subprocess.run(
        [sys.executable, "-c", CLI, "simulate", "--recipe", str(recipe)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert rerun.returncode == 0, rerun.stderr
    trained, cached = _counts(rerun.stdout)
    assert cached == len(kept) >= 1  # the finished runs were reused ...
    assert {f: f.stat().st_mtime_ns for f in kept} == mtimes  # ... not retrained or rewritten
    total = trained + cached
    assert len(kept) < total  # the kill really happened mid-run
    assert len(_runs(runs_dir)) == total  # and the rerun completed the results
    assert "Target 8: baseline AUC" in rerun.stdout


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs POSIX signals and /proc")
def test_ctrl_c_with_worker_processes_is_one_line_and_leaves_no_worker(tmp_path) -> None:
    """Ctrl-C in a terminal signals the whole process group, workers included: the command
    prints one line, exits 130, and no worker outlives it (they ignore SIGINT; it stops them)."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        RECIPE.replace("  max_replicas: 1\n", "  max_replicas: 1\n  executor: process\n")
    )
    env = {**os.environ, "BUDGETPLAN_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "simulate", "--recipe", str(recipe)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    runs_dir = tmp_path / "cache" / "runs"
    deadline = time.monotonic() + TIMEOUT
    while not _runs(runs_dir):  # workers are training
        assert proc.poll() is None, f"simulate ended before any run: {proc.communicate()}"
        assert time.monotonic() < deadline, "no run finished within the timeout"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("simulating")]  # the progress bar
    assert lines == ["budgetplan: interrupted; finished results are kept in the cache"]
    time.sleep(0.5)
    assert _live_in_group(proc.pid) == []  # a terminated worker may linger as a zombie only


def _live_in_group(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes of process group ``pgid`` (from /proc)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live
