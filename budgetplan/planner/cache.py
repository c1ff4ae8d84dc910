"""On-disk cache of simulated runs: one small JSON per (data, assembly, method, settings, seed).

Each finished training run is written at once, atomically (``write_json_atomic``), under
``cache_dir()/runs/<key[:2]>/<key>.json``. An interrupted simulation therefore keeps every run
that finished, a rerun computes only the missing ones, and a repeated run is instant. The key is
a hash of everything that changes the result (:func:`run_key`), so a change of data, assembly,
method, hyper-parameters or seed can never reuse a stale result. The data part is the store's
checksum, which ``EmbeddingStore.open`` verifies against the files (re-hashing when their size
or mtime changed), so an edited store never meets its old runs.

A record carries a digest of its own content: one edited by hand, truncated, or holding a
non-finite or out-of-range ``auc`` / ``ap`` is ignored (and retrained), never used and never
fatal (:func:`valid_record`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from budgetplan.errors import BudgetplanError, InputFileError
from budgetplan.io import check_writable, write_json_atomic
from budgetplan.paths import cache_dir

DIGEST = "digest"

CACHE_VERSION = (
    3  # 2: dropout masks as 16-bit integers; 3: the compiled CPU engine (methods/fused.py)
)


def run_key(
    data_checksum: str, assembly_key: str, method: str, params: dict[str, Any], seed: int | str
) -> str:
    """sha256 over the data checksum, the assembly's label key, method, settings and seed."""
    text = json.dumps(
        {
            "v": CACHE_VERSION,
            "data": data_checksum,
            "assembly": assembly_key,
            "method": method,
            "params": params,
            "seed": seed if isinstance(seed, str) else int(seed),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class RunCache:
    """Directory of cached run records; ``root=None`` means ``cache_dir()/"runs"``."""

    def __init__(self, root: str | os.PathLike[str] | None = None, enabled: bool = True) -> None:
        self.root = Path(root) if root is not None else cache_dir() / "runs"
        self.enabled = enabled

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record, or None (missing, disabled, unreadable or invalid: recomputed)."""
        if not self.enabled:
            return None
        try:
            with open(self.path(key), encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError, RecursionError):
            return None
        return record if valid_record(record, key) else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        if self.enabled:
            body = {**record, "key": key}
            body.pop(DIGEST, None)
            write_json_atomic(self.path(key), {**body, DIGEST: record_digest(body)})

    def check_writable(self) -> None:
        """Fail at once (before training) when finished runs could not be kept."""
        if not self.enabled:
            return
        try:
            check_writable(self.root, directory=True)
        except InputFileError as exc:
            raise BudgetplanError(
                f"run cache {exc}; set BUDGETPLAN_CACHE to a writable folder or pass --no-cache"
            ) from None

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0


def record_digest(body: dict[str, Any]) -> str:
    """sha256 of a record without its digest (keys sorted): notices any edit."""
    text = json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def valid_record(record: Any, key: str) -> bool:
    """True for a record written by :meth:`RunCache.put` for ``key`` and not changed since:
    its digest matches, ``auc`` and ``ap`` are finite numbers in [0, 1], ``best_epoch`` (if
    present) an integer."""
    if not isinstance(record, dict) or record.get("key") != key:
        return False
    body = {k: v for k, v in record.items() if k != DIGEST}
    if record.get(DIGEST) != record_digest(body):
        return False
    for name in ("auc", "ap"):
        v = record.get(name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return False
        if not 0.0 <= v <= 1.0:
            return False
    epoch = record.get("best_epoch", -1)
    return isinstance(epoch, int) and not isinstance(epoch, bool)
