"""Spend training runs where they decide the ranking: successive halving over seeds.

Round 0 trains every candidate (and the baseline) with ``initial_seeds`` seeds. After each
round the candidates are ranked by their paired mean gain over the baseline; the top ``1/eta``
(at least ``keep_min``) go on to ``eta`` times as many seeds, the others stop, until the
survivors reach ``max_seeds`` (Jamieson & Talwalkar 2016, with seeds as the resource). The
ranking of the top candidates is then backed by the most runs, and candidates that are clearly
behind cost only the first round. Each round is one ``Runner.run`` call, so all its
candidates x seeds train as one batched model. Every candidate reports how many runs stand
behind its number (``runs``) and the round it stopped in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from budgetplan.planner.assembly import Assembly
from budgetplan.planner.runner import Runner, RunResult, RunSpec
from budgetplan.planner.stats import GainStats, gain_stats


@dataclass
class Evidence:
    """Measured runs of one assembly and its paired gain over the baseline."""

    assembly: Assembly
    runs: list[RunResult] = field(default_factory=list)
    stats: GainStats = field(default_factory=GainStats)
    rounds: int = 0

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    @property
    def gain(self) -> float:
        return self.stats.gain


def seed_schedule(initial: int, maximum: int, eta: int) -> list[int]:
    """Seeds per round: initial, initial*eta, ... capped at maximum (always ends at maximum)."""
    out = [min(initial, maximum)]
    while out[-1] < maximum:
        out.append(min(maximum, out[-1] * max(2, eta)))
    return out


def successive_halving(
    runner: Runner,
    baseline: Assembly,
    candidates: Sequence[Assembly],
    *,
    initial_seeds: int = 2,
    max_seeds: int = 6,
    eta: int = 2,
    keep_min: int = 2,
    alpha: float = 0.05,
) -> tuple[list[RunResult], list[Evidence]]:
    """Run the schedule; returns the baseline's runs and one :class:`Evidence` per candidate."""
    evidence = [Evidence(a) for a in candidates]
    alive = list(range(len(candidates)))
    base_runs: list[RunResult] = []
    schedule = seed_schedule(initial_seeds, max_seeds, eta)
    for r, n_seeds in enumerate(schedule):
        specs = [RunSpec(baseline, s) for s in range(n_seeds)]
        specs += [RunSpec(evidence[i].assembly, s) for i in alive for s in range(n_seeds)]
        results = runner.run(
            specs, label=f"round {r + 1}/{len(schedule)}: {len(alive)} candidates x {n_seeds} seeds"
        )
        base_runs = results[:n_seeds]
        for j, i in enumerate(alive):
            ev = evidence[i]
            ev.runs = results[n_seeds * (j + 1) : n_seeds * (j + 2)]
            ev.stats = gain_stats(ev.runs, base_runs, alpha)
            ev.rounds = r + 1
        if r + 1 < len(schedule):
            alive.sort(key=lambda i: -_finite(evidence[i].gain))
            alive = alive[: max(keep_min, math.ceil(len(alive) / max(2, eta)))]
    return base_runs, evidence


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -math.inf
