"""Time estimates before a long run: how many runs a plan (or a budget curve) may train, times
the seconds per run measured on this machine for this store and method.

The count is a range: the race drops candidates early when their confidence bounds allow
(``planner.allocation``), so the low end assumes every candidate leaves after the first round
and the greedy selection finds nothing (and the random control is a candidate already
trained, which happens for a one-class plan); the high end that every candidate races to the last
draw and the greedy selection tries every step. Runs already in the run cache cost nothing, so
the real time is often shorter. Seconds per run are what the last run on this machine measured
(:func:`record_seconds`; kept in the budgetplan cache), so the estimate is only as good as that.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from budgetplan.config import RecommendConfig
    from budgetplan.data.label_table import LabelTable

TIMINGS_FILE = "app-seconds-per-run.json"


def n_candidates(config: RecommendConfig, labels: LabelTable, target: str) -> int:
    """How many candidates the planner trains: the other classes with training positives (per
    source when several sources label them), capped by ``max_candidates``, plus "more target
    images" when target positives are hidden, plus the decoy."""
    from budgetplan.planner.study import class_candidates

    others = [c for c in labels.classes if c != target]
    cands = class_candidates(labels, others, config.simulation.per_source)
    n = len(cands)
    if config.simulation.max_candidates:
        n = min(n, config.simulation.max_candidates)
    train = labels.split == "train"
    n_pos = int((labels.column(target)[train] == 1).sum())
    if config.target_positives is not None and config.target_positives < n_pos:
        n += 1
    return n + (1 if config.simulation.decoy else 0)


def run_bounds(config: RecommendConfig, labels: LabelTable, target: str) -> tuple[int, int]:
    """(fewest, most) runs a plan with ``config`` trains when nothing is cached (module doc)."""
    n = n_candidates(config, labels, target)
    s0 = min(config.simulation.initial_seeds, config.max_seeds)
    s = config.max_seeds
    sel = config.selection
    control = sel.random_draws * s
    low = (1 + n) * s0 + (s - s0)  # a one-class random control may be a raced candidate

    high = (1 + n) * s + max(0, sel.max_classes - 1) * sel.greedy_width * s + control
    return int(low), int(high)


def timing_key(checksum: str, config: RecommendConfig) -> str:
    """Runs of one store and one training setting take about the same time."""
    return f"{checksum[:16]}:{config.train.key()}"


def _timings_path() -> Path:
    from budgetplan.paths import cache_dir

    return cache_dir() / TIMINGS_FILE


def record_seconds(key: str, seconds: float, runs_trained: int) -> None:
    """Keep the measured seconds per trained run for ``key`` (ignored when nothing trained)."""
    if runs_trained <= 0 or not math.isfinite(seconds):
        return
    from budgetplan.io import write_json_atomic

    path = _timings_path()
    data = _read(path)
    data[key] = float(seconds) / runs_trained
    try:
        write_json_atomic(path, data)
    except OSError:  # an estimate is never worth an error
        return


def seconds_per_run(key: str) -> float | None:
    """The seconds per run last measured for ``key``, or None."""
    value = _read(_timings_path()).get(key)
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _read(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def duration(seconds: float) -> str:
    """``45 s``, ``3 min``, ``1 h 20 min``."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def estimate_text(runs: tuple[int, int], per_run: float | None, what: str = "This plan") -> str:
    """One sentence: how many runs, how long (an estimate), or that no timing is known yet."""
    low, high = runs
    count = f"{low:,} to {high:,} runs" if low != high else f"{low:,} runs"
    if per_run is None:
        return (
            f"{what} trains up to {count} (fewer when runs are in the cache). No run has been "
            "timed on this machine for this store and method yet, so there is no time estimate."
        )
    span = (
        duration(low * per_run)
        if low == high
        else f"{duration(low * per_run)} to {duration(high * per_run)}"
    )
    return (
        f"Estimate: {what.lower()} trains {count}, about {span} at the {per_run:.2g} s per run "
        "measured last on this machine (runs in the cache cost nothing, so it may be faster)."
    )
