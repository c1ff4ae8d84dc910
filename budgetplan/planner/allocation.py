"""Spend training runs where they decide the ranking: racing over draws, on confidence bounds.

Round 0 trains every candidate (and the baseline) in ``initial_seeds`` draws. After each round
every candidate's paired gain over the baseline has a two-sided ``1 - alpha`` CI across its
draws. A candidate is dropped only when its upper bound is below the best candidate's lower
bound (it is confidently worse than the leader) or below ``min_gain`` (it is confidently not
worth it); the others go on to ``eta`` times as many draws, until ``max_seeds`` (a racing rule
in the spirit of Hoeffding races, Maron & Moore 1994, with t-based bounds). A point estimate
never drops a candidate, so a planted helpful class survives any unlucky early round whose CI
still overlaps the leader's. Each round is one ``Runner.run`` call of the draws its candidates
do not have yet, so its candidates x new draws train as one batched model, and every candidate
reports the draws behind its number.

Confirmation (``confirm_seeds``): a candidate whose gain looks positive but is not significant
after ``max_seeds`` is the one whose verdict flips between independent runs of the study; the
candidates still undecided then get draws up to ``confirm_seeds`` (bench/README.md, "Trust").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from budgetplan.planner.draws import Draws
from budgetplan.planner.runner import Runner, RunResult
from budgetplan.planner.selection import SizedSet
from budgetplan.planner.stats import GainStats, benjamini_hochberg, gain_stats


@dataclass
class Evidence:
    """Measured runs of one candidate set and its paired gain over the baseline."""

    sized: SizedSet
    runs: list[RunResult] = field(default_factory=list)
    stats: GainStats = field(default_factory=GainStats)
    rounds: int = 0
    dropped_in: int | None = None  # round after which the race stopped it (None = finished)

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    @property
    def gain(self) -> float:
        return self.stats.gain


def seed_schedule(initial: int, maximum: int, eta: int) -> list[int]:
    """Draws per round: initial, initial*eta, ... capped at maximum (always ends at maximum)."""
    out = [min(initial, maximum)]
    while out[-1] < maximum:
        out.append(min(maximum, out[-1] * max(2, eta)))
    return out


def still_in_race(evidence: Sequence[Evidence], min_gain: float = 0.0) -> list[bool]:
    """The racing rule: keep a candidate unless its CI upper bound is below the best lower bound
    among the candidates, or below ``min_gain``. A bound that is not finite keeps it."""
    lows = [e.stats.ci_low for e in evidence if math.isfinite(e.stats.ci_low)]
    best_low = max(lows) if lows else -math.inf
    keep = []
    for e in evidence:
        high = e.stats.ci_high
        keep.append(not (math.isfinite(high) and (high < best_low or high < min_gain)))
    return keep


def undecided(
    evidence: Sequence[Evidence], alpha: float = 0.05, min_gain: float = 0.0
) -> list[bool]:
    """Candidates a confirmation round should decide: a mean gain above ``min_gain`` that is not
    yet significant under Benjamini-Hochberg over ``evidence`` (the same rule as the output's)."""
    q = benjamini_hochberg([e.stats.p_value for e in evidence])
    return [
        math.isfinite(e.gain)
        and e.gain > min_gain
        and not replace(e.stats, q_value=qi).significant(alpha, min_gain)
        for e, qi in zip(evidence, q, strict=True)
    ]


def race(
    runner: Runner,
    draws: Draws,
    baseline: SizedSet,
    candidates: Sequence[SizedSet],
    *,
    initial_seeds: int = 2,
    max_seeds: int = 6,
    eta: int = 2,
    alpha: float = 0.05,
    min_gain: float = 0.0,
    confirm_seeds: int | None = None,
) -> tuple[list[RunResult], list[Evidence]]:
    """Run the race; returns the baseline's runs and one :class:`Evidence` per candidate.

    Each round trains only the draws its candidates do not have yet. With ``confirm_seeds``
    (> ``max_seeds``), the candidates still :func:`undecided` at the end get draws up to it."""
    evidence = [Evidence(z) for z in candidates]
    alive = list(range(len(candidates)))
    base_runs: list[RunResult] = []
    schedule = seed_schedule(initial_seeds, max_seeds, eta)
    done = 0

    def train(which: list[int], upto: int, label: str) -> None:
        """One batched call: the baseline and ``which`` in draws ``done..upto-1``."""
        nonlocal base_runs, done
        span = (done, upto)
        base_runs = _extend(
            runner,
            draws,
            baseline,
            base_runs,
            evidence,
            which=which,
            span=span,
            alpha=alpha,
            label=label,
        )
        for i in which:
            evidence[i].rounds += 1
        done = upto

    for r, n_seeds in enumerate(schedule):
        train(
            alive,
            n_seeds,
            f"round {r + 1}/{len(schedule)}: {len(alive)} candidates x {n_seeds} draws",
        )
        if r + 1 < len(schedule):
            keep = still_in_race([evidence[i] for i in alive], min_gain)
            for i, k in zip(alive, keep, strict=True):
                if not k:
                    evidence[i].dropped_in = r + 1
            alive = [i for i, k in zip(alive, keep, strict=True) if k]
    if confirm_seeds is not None and confirm_seeds > done:
        open_ = undecided(evidence, alpha, min_gain)
        todo = [i for i in alive if open_[i]]
        if todo:
            train(
                todo,
                confirm_seeds,
                f"confirmation: {len(todo)} undecided candidates x {confirm_seeds} draws",
            )
    return base_runs, evidence


def _extend(
    runner: Runner,
    draws: Draws,
    baseline: SizedSet,
    base_runs: list[RunResult],
    evidence: list[Evidence],
    *,
    which: list[int],
    span: tuple[int, int],
    alpha: float,
    label: str,
) -> list[RunResult]:
    """Train the baseline and the candidates ``which`` in draws ``span[0]..span[1]-1`` (one
    batched call), add the runs, refresh their paired stats; returns the baseline's runs."""
    new = range(*span)
    specs = draws.specs(baseline, new)
    for i in which:
        specs += draws.specs(evidence[i].sized, new)
    results = runner.run(specs, label=label)
    k = len(new)
    base_runs = [*base_runs, *results[:k]]
    for j, i in enumerate(which):
        ev = evidence[i]
        ev.runs = [*ev.runs, *results[k * (j + 1) : k * (j + 2)]]
        ev.stats = gain_stats(ev.runs, base_runs, alpha)
    return base_runs
