"""A job reaches a worker process with the same values, to the bit, in a fraction of the bytes:
shared arrays once as files, labels as int8 codes."""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from budgetplan.planner import executor as ex
from budgetplan.planner import job_transport as jt


@dataclasses.dataclass
class _Job:
    x_train: object
    y_train: object
    seeds: tuple[int, ...] = (0,)


def _labels(dtype: type = np.float32, shape: tuple[int, ...] = (3, 500, 6)) -> np.ndarray:
    rng = np.random.default_rng(0)
    y = (rng.random(shape) < 0.3).astype(dtype)
    y[rng.random(shape) < 0.5] = np.nan
    return y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_labels_travel_as_int8_and_come_back_to_the_bit(dtype: type) -> None:
    y = _labels(dtype)
    packed = jt.pack(_Job(None, y))
    assert isinstance(packed.y_train, jt.PackedLabels) and packed.y_train.codes.dtype == np.int8
    back = jt.unpack(packed).y_train
    assert back.dtype == y.dtype and back.tobytes() == y.tobytes()
    assert len(pickle.dumps(packed)) < len(pickle.dumps(_Job(None, y))) / 3


def test_labels_that_are_not_exactly_one_zero_or_missing_travel_as_they_are() -> None:
    y = _labels()
    y[0, 0, 0] = 0.5
    job = _Job(None, y)
    assert jt.pack(job) is job
    assert jt.pack(7) == 7  # not a job: unchanged


def test_shared_arrays_are_written_once_and_read_back_read_only() -> None:
    files = jt.SharedFiles()
    x = np.random.default_rng(1).normal(size=(400, 16)).astype(np.float32)
    shared = files.share({"x_train": x, "soft_exposure": None, "target": 3})
    handle = shared["x_train"]
    assert isinstance(handle, jt.SharedArray) and shared["soft_exposure"] is None
    assert shared["target"] == 3
    assert len(pickle.dumps(handle)) < 300
    got = jt.unpack(_Job(handle, _labels())).x_train
    assert np.array_equal(got, x) and got.dtype == x.dtype and not got.flags.writeable
    assert not list(Path(handle.path).parent.glob("*.tmp"))  # written whole, then renamed
    files.close()
    assert not Path(handle.path).parent.exists()


def test_a_folder_that_cannot_be_written_sends_the_arrays_in_the_jobs(monkeypatch) -> None:
    def no_space(*args: object, **kwargs: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkdtemp", no_space)
    x = np.ones((4, 2), dtype=np.float32)
    shared = jt.SharedFiles().share({"x_train": x})
    assert shared["x_train"] is x


def _checksum(job: _Job) -> tuple[str, bool, bytes]:
    x = np.asarray(job.x_train)
    return type(job.y_train).__name__, bool(x.flags.writeable), x.tobytes() + job.y_train.tobytes()


def test_worker_processes_see_the_drivers_arrays() -> None:
    """Through ``ProcessExecutor`` (shared files, packed labels) a job function gets float
    labels and the shared arrays, equal to the bit; a one-job round runs here, unpacked too."""
    pool = ex.ProcessExecutor(2)
    x = np.random.default_rng(2).normal(size=(300, 8)).astype(np.float32)
    shared = pool.share({"x_train": x})
    jobs = [_Job(shared["x_train"], _labels(shape=(2, 300, 4))) for _ in range(3)]
    try:
        for jobs_now in (jobs, jobs[:1]):
            for i, (kind, writeable, data) in pool.map(_checksum, jobs_now):
                assert kind == "ndarray" and not writeable
                assert data == x.tobytes() + jobs[i].y_train.tobytes()
    finally:
        pool.close()


def test_a_later_file_is_never_answered_from_an_earlier_ones_map(tmp_path, monkeypatch) -> None:
    """Even in a folder of the same name (a later run's temporary folder), a new array is read
    as itself, not from the map a worker kept of an earlier file."""
    folder = tmp_path / "budgetplan-jobs-same"

    def same_folder(*args: object, **kwargs: object) -> str:
        folder.mkdir()
        return str(folder)

    monkeypatch.setattr(tempfile, "mkdtemp", same_folder)
    first = jt.SharedFiles()
    old = jt.unpack(_Job(first.share({"x": np.zeros(5, np.float32)})["x"], None)).x_train
    first.close()
    second = jt.SharedFiles()
    new = jt.unpack(_Job(second.share({"x": np.ones(5, np.float32)})["x"], None)).x_train
    assert np.array_equal(new, np.ones(5)) and np.array_equal(old, np.zeros(5))
    second.close()


def _job_folder(parent: Path, pid: int, machine: str | None = None, tag: str = "x") -> Path:
    """A job folder's name as ``io.make_temp_dir`` gives it, for process ``pid`` of ``machine``."""
    from budgetplan.io import _HOST

    return parent / f".{jt.JOB_FOLDER}.p{pid}h{machine or _HOST}.{tag}{jt.JOB_SUFFIX}"


@pytest.mark.skipif(os.name != "posix", reason="the sweep needs POSIX process ids")
def test_a_folder_left_by_a_killed_driver_is_removed_by_the_next_run(tmp_path, monkeypatch):
    """A driver killed outright (SIGKILL) leaves its job folder behind; the next run's first
    shared array removes it, and leaves alone a live driver's folder, another machine's (a
    cluster's shared scratch: a long run there may still use it, whatever its age) and a link."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = _job_folder(tmp_path, gone.pid)
    live = _job_folder(tmp_path, os.getppid())
    other = _job_folder(tmp_path, gone.pid, machine="0000beef")
    for folder in (stale, live, other):
        folder.mkdir()
        (folder / "a.npy").write_bytes(b"x" * 1000)
    os.utime(other, (time.time() - 3 * 86400,) * 2)  # three days old
    elsewhere = tmp_path / "mine"  # a dead driver's name on a link: neither it nor its target go
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("x")
    link = _job_folder(tmp_path, gone.pid, tag="link")
    link.symlink_to(elsewhere, target_is_directory=True)
    files = jt.SharedFiles()
    handle = files.share({"x": np.arange(3.0)})["x"]
    assert not stale.exists() and live.exists() and other.exists()
    assert link.is_symlink() and (elsewhere / "keep.txt").exists()
    own = Path(handle.path).parent
    assert own.name.startswith(f".{jt.JOB_FOLDER}.p{os.getpid()}h")
    assert jt.remove_stale_folders(tmp_path) == []  # our own folder is never stale
    files.close()
    assert not own.exists()


def test_a_killed_drivers_folder_is_removed_after_a_real_sigkill(tmp_path, monkeypatch):
    """End to end: a process that shared an array and was SIGKILLed leaves its folder; the next
    SharedFiles in another process's place removes it."""
    if os.name != "posix":
        pytest.skip("SIGKILL and the sweep are POSIX")
    code = (
        "import os, signal, sys, tempfile, numpy as np\n"
        f"tempfile.tempdir = {str(tmp_path)!r}\n"
        "from budgetplan.planner.job_transport import SharedFiles\n"
        "f = SharedFiles(); f.share({'x': np.zeros(10)})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert run.returncode == -9
    left = list(tmp_path.glob(f".{jt.JOB_FOLDER}.*"))
    assert len(left) == 1 and any(left[0].iterdir())
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    files = jt.SharedFiles()
    files.share({"x": np.ones(2)})
    assert not left[0].exists()
    files.close()
