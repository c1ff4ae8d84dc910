"""Temp dirs a killed process left are swept by the next run, and only those it may sweep."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from budgetplan import io


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def _temp(parent: Path, pid: int, machine: str, suffix: str = ".build") -> Path:
    path = parent / f".demo.p{pid}h{machine}.x{suffix}"
    path.mkdir()
    return path


@pytest.mark.skipif(os.name != "posix", reason="process ids are checked on POSIX only")
def test_a_dead_process_dir_of_this_machine_goes_another_machines_only_when_old(tmp_path):
    dead = _dead_pid()
    mine = _temp(tmp_path, dead, io._HOST)
    fresh_elsewhere = _temp(tmp_path, dead, "0000beef", ".tmp")
    old_elsewhere = _temp(tmp_path, dead, "1111beef", ".old")
    os.utime(old_elsewhere, (time.time() - io.STALE_SECONDS - 60,) * 2)
    assert io.clean_stale_temp(tmp_path, "demo", foreign_after=None) == [mine]
    assert fresh_elsewhere.exists() and old_elsewhere.exists()  # never, with foreign_after=None
    assert io.clean_stale_temp(tmp_path, "demo") == [old_elsewhere]
    assert fresh_elsewhere.exists()


def test_no_pid_is_taken_for_dead_where_signal_0_would_be_ctrl_c(monkeypatch):
    """On Windows ``os.kill(pid, 0)`` sends Ctrl-C: there every pid counts as alive, so a temp
    dir goes by age alone and no process is interrupted."""
    dead = _dead_pid()
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: calls.append((pid, sig)))
    monkeypatch.setattr(os, "name", "nt")
    assert io.process_alive(dead)
    assert calls == []


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and process ids are POSIX")
def test_a_write_killed_midway_leaves_a_temp_file_the_next_write_removes(tmp_path):
    """A SIGKILL during an atomic write (a large cache file) leaves its temp file; the next
    write of that file removes it, and leaves alone a live writer's and the user's own files."""
    target = tmp_path / "vectors.npy"
    code = (
        "import os, signal\n"
        "from budgetplan.io import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_bytes(b'0' * 100000)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert run.returncode == -9
    (left,) = tmp_path.glob(".vectors.npy.*.tmp")
    live = tmp_path / f".vectors.npy.p{os.getppid()}h{io._HOST}.abc.tmp"  # a writer still at it
    mine = tmp_path / ".vectors.npy.backup.tmp"  # the user's, of the same shape
    for keep in (live, mine):
        keep.write_bytes(b"1")
    io.save_npy_atomic(target, np.arange(3))
    assert not left.exists() and live.exists() and mine.exists()
    assert np.array_equal(np.load(target), np.arange(3))


def test_an_old_file_shaped_like_an_unowned_temp_name_is_never_removed(tmp_path):
    """Only folders go by age: a user's file that merely looks like an old temp name stays."""
    old = time.time() - io.STALE_SECONDS - 60
    theirs = tmp_path / ".mystore.backup.tmp"
    theirs.write_text("mine")
    legacy_dir = tmp_path / ".mystore.abc123.tmp"
    legacy_dir.mkdir()
    for path in (theirs, legacy_dir):
        os.utime(path, (old, old))
    assert io.clean_stale_temp(tmp_path, "mystore") == [legacy_dir]
    assert theirs.read_text() == "mine"
