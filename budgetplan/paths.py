"""Where budgetplan keeps its caches (demo store, simulation results)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    """``$BUDGETPLAN_CACHE`` if set, else the user cache dir (e.g. ~/.cache/budgetplan)."""
    env = os.environ.get("BUDGETPLAN_CACHE")
    path = Path(env) if env else Path(platformdirs.user_cache_dir("budgetplan"))
    path.mkdir(parents=True, exist_ok=True)
    return path
