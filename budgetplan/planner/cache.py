"""On-disk cache of simulated runs: one small JSON per (data, assembly, method, settings, seed).

Each finished training run is written at once, atomically (``write_json_atomic``), under
``cache_dir()/runs/<key[:2]>/<key>.json``. An interrupted simulation therefore keeps every run
that finished, a rerun computes only the missing ones, and a repeated run is instant. The key is
a hash of everything that changes the result (:func:`run_key`), so a change of data, assembly,
method, hyper-parameters or seed can never reuse a stale result.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from budgetplan.io import write_json_atomic
from budgetplan.paths import cache_dir

CACHE_VERSION = 2  # 2: dropout masks drawn as 16-bit integers (trainer speed-up)


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
        """The stored record, or None (missing, disabled, or unreadable: recomputed then)."""
        if not self.enabled:
            return None
        try:
            with open(self.path(key), encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("key") == key else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        if self.enabled:
            write_json_atomic(self.path(key), {**record, "key": key})

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0
