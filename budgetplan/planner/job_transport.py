"""How a training job travels to a worker process: its shared arrays once, its labels as int8.

A :class:`~budgetplan.planner.runner.TrainJob` carries the arrays every job of a problem reads
(the training pool, validation and test) and its replicas' label matrices (R, N, C), float32
with NaN where a replica has no label. Pickled whole into each job, the embedded default sent
~65 MB a job through the pipe, about 1 GB a cold run, pickled by the driver while the workers
trained and unpickled by the workers (bench/README.md, "recommend.py").

- :class:`SharedFiles` (``ProcessExecutor.share``) writes each shared array once to a private
  temporary folder as ``.npy`` (the format numpy reads without pickle) and gives the job a
  :class:`SharedArray` handle instead; a worker maps each file read-only once and keeps it for
  its later jobs. Where the folder cannot be written (a full disk), the arrays travel in the jobs
  as before. The folder's name says whose it is (``io.make_temp_dir``: the driver's process id
  and machine), so that the folder of a driver killed outright (SIGKILL, the out-of-memory
  killer: no finalizer runs) is removed by the next run on that machine that trains in worker
  processes (:func:`remove_stale_folders`).
- :func:`pack` sends a label matrix that holds only 1, 0 and NaN as int8 codes (a quarter of
  the bytes); :func:`unpack` gives the worker the same float32 matrix back, to the bit.

The job function sees the same values as in the driver, so every executor still gives the same
numbers to the bit (``tests/planner/test_executor.py``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
import uuid
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from budgetplan.io import clean_stale_temp, make_temp_dir

_MEMO_SIZE = 8  # shared files a worker keeps mapped (one problem's arrays are ~5 files)
JOB_FOLDER, JOB_SUFFIX = "budgetplan-jobs", ".jobs"  # io.make_temp_dir: owner's pid and machine


@dataclass(frozen=True)
class SharedArray:
    """A handle to an array written once by :class:`SharedFiles` (picklable, a few bytes)."""

    path: str


@dataclass(frozen=True)
class PackedLabels:
    """A (R, N, C) label matrix of 1 / 0 / NaN as int8 codes 1 / 0 / -1, and its dtype."""

    codes: np.ndarray
    dtype: str


class SharedFiles:
    """A private temporary folder of ``.npy`` files, removed when its owner is collected or the
    process exits."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._finalizer: weakref.finalize | None = None

    def share(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Each numpy array of ``values`` written once, as a :class:`SharedArray`; any other value
        unchanged. On an OSError (no space, no temporary folder) every value stays as it is."""
        try:
            out = {k: self._write(v) if isinstance(v, np.ndarray) else v for k, v in values.items()}
        except OSError:
            return dict(values)
        return out

    def _write(self, array: np.ndarray) -> SharedArray:
        if self._root is None:
            parent = Path(tempfile.gettempdir())
            remove_stale_folders(parent)
            self._root = make_temp_dir(parent, JOB_FOLDER, JOB_SUFFIX)
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._root, True)
        # a name never used before, so a worker's map of an earlier file is never taken for it
        path = self._root / f"{uuid.uuid4().hex}.npy"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, path)
        return SharedArray(str(path))

    def close(self) -> None:
        """Remove the folder now."""
        if self._finalizer is not None:
            self._finalizer()
        self._root = None
        self._finalizer = None


def remove_stale_folders(parent: str | Path | None = None) -> list[Path]:
    """Remove the job folders in ``parent`` (the temporary folder) that a driver killed outright
    left behind: this user's, of this machine, whose process no longer exists
    (``io.clean_stale_temp``); returns them. Another machine's or an older version's folder is
    never removed: on a cluster's shared scratch, a long run elsewhere may still be using it."""
    return clean_stale_temp(
        Path(parent or tempfile.gettempdir()), JOB_FOLDER, (JOB_SUFFIX,), foreign_after=None
    )


def pack(job: Any) -> Any:
    """``job`` with its float label matrix ``y_train`` as :class:`PackedLabels` when that is
    exact (only 1, 0 and NaN); any other job unchanged."""
    y = getattr(job, "y_train", None)
    if not isinstance(y, np.ndarray) or y.dtype.kind != "f":
        return job
    if not dataclasses.is_dataclass(job) or isinstance(job, type):
        return job
    known = ~np.isnan(y)
    if not np.all((y == 0) | (y == 1) | ~known):
        return job
    codes = np.full(y.shape, -1, dtype=np.int8)
    codes[known] = y[known]
    return dataclasses.replace(job, y_train=PackedLabels(codes, y.dtype.str))


_MAPPED: OrderedDict[str, np.ndarray] = OrderedDict()
_MAPPED_LOCK = threading.Lock()


def _mapped(handle: SharedArray) -> np.ndarray:
    """The handle's array, mapped read-only once per process (the last few kept)."""
    with _MAPPED_LOCK:
        array = _MAPPED.get(handle.path)
        if array is None:
            array = np.load(handle.path, mmap_mode="r", allow_pickle=False)
            _MAPPED[handle.path] = array
            while len(_MAPPED) > _MEMO_SIZE:
                _MAPPED.popitem(last=False)
        else:
            _MAPPED.move_to_end(handle.path)
        return array


def _unpacked(value: PackedLabels) -> np.ndarray:
    y = value.codes.astype(np.dtype(value.dtype))
    y[value.codes < 0] = np.nan
    return y


def unpack(job: Any) -> Any:
    """``job`` as the driver built it: shared arrays read from their files, labels decoded."""
    if not dataclasses.is_dataclass(job) or isinstance(job, type):
        return job
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(job):
        value = getattr(job, f.name)
        if isinstance(value, SharedArray):
            changes[f.name] = _mapped(value)
        elif isinstance(value, PackedLabels):
            changes[f.name] = _unpacked(value)
    return dataclasses.replace(job, **changes) if changes else job


def run_unpacked(fn: Callable[[Any], Any], job: Any) -> Any:
    """In the worker: :func:`unpack` the job, run ``fn`` on it."""
    with warnings.catch_warnings():
        # mapped arrays are read-only; the trainer copies what it writes
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return fn(unpack(job))
