"""Budgeted selection: size actions to the budget, greedy forward selection, random control.

Sizing. A set of classes is annotated on the same number ``n`` of images per class, each class
on its own priority order (``budgetplan.planner.images.prioritise_images``: the target's kNN
hard-negative neighbourhood first); ``n`` is the largest count whose cost under the
:class:`CostModel` (labels plus one reading cost per distinct image) fits the budget. Without a
budget every class is annotated on the whole training split. The simulation annotates the first
``problem.scale_count(n)`` images of the *pool* order (the pool is a uniform sample, so the share
annotated matches the real plan's share).

Greedy forward selection (seed 000 Table 5 shows returns diminish: +5.6 AUC points for the best
single class, +7.4 for all 13): the first class is the single with the largest significant gain;
at each later step the ``greedy_width`` best remaining singles are each added to the current set,
the new sets are sized to the budget (more classes = fewer images each) and TRAINED; the best new
set is kept only if it beats the current set (paired across seeds, one-sided test and CI low
above 0). So the gain of a combination is measured, never assumed additive.

Honesty: a candidate whose single gain is not significant (``GainStats.significant``) is never
chosen, and an empty plan ("no class is worth its cost") is a valid answer.

Random control: classes drawn at random (seeded) among all candidates, as many as the plan has
(one for an empty plan), sized to the same budget (equal cost), trained with the same seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from budgetplan.config import SelectionConfig
from budgetplan.errors import BudgetError
from budgetplan.planner.assembly import ANNOTATE_CLASS, ANNOTATE_TARGET, Action, Assembly
from budgetplan.planner.costs import CostModel
from budgetplan.planner.identity_memo import IdentityMemo
from budgetplan.planner.problem import SimProblem
from budgetplan.planner.runner import Runner, RunResult
from budgetplan.planner.stats import GainStats, gain_stats

if TYPE_CHECKING:
    from budgetplan.planner.allocation import Evidence
    from budgetplan.planner.draws import Draws


DECOY_KIND = "decoy"


@dataclass(frozen=True)
class Candidate:
    """An annotation option: a negative class, or more target labels (``kind``)."""

    class_name: str
    kind: str = ANNOTATE_CLASS
    source: str = ""  # annotate only images of this source (per source x class candidates)

    @property
    def label(self) -> str:
        """Display name: "Effusion", "Effusion @ chexpert" (one source), "more Nodule"."""
        if self.kind == ANNOTATE_TARGET:
            return f"more {self.class_name}"
        if self.kind == DECOY_KIND:
            return "decoy (random labels)"
        return f"{self.class_name} @ {self.source}" if self.source else self.class_name

    @property
    def kind_of_labels(self) -> str:
        """The assembly action it adds: more target labels, or labels of a class."""
        return ANNOTATE_TARGET if self.kind == ANNOTATE_TARGET else ANNOTATE_CLASS


@dataclass
class Orders:
    """Priority orders per candidate: over the full training ids and over the pool ids."""

    full: dict[Candidate, np.ndarray]
    pool: dict[Candidate, np.ndarray]


@dataclass
class SizedSet:
    """A set of candidates sized to a budget: n real images per class, its cost, its assembly."""

    members: tuple[Candidate, ...]
    n_images: int
    cost: float
    assembly: Assembly
    assignments: dict[Candidate, list[str]] = field(default_factory=dict)


def build_orders(
    problem: SimProblem,
    candidates: Sequence[Candidate],
    base: Assembly,
    *,
    full_train_ids: np.ndarray,
    target_pool_ids: np.ndarray,
    knn_indices: np.ndarray | None,
    seed: int = 0,
    full_train_source: np.ndarray | None = None,
) -> Orders:
    """Priority orders: pool rows by :func:`prioritise_images`, then the non-pool training ids.

    The prioritisation sees only what the user has (the base state's target labels), never the
    reference labels of the class being bought. ``target_pool_ids``: images the "more target
    labels" action draws from (dropped positives and labelled negatives, in random order, so the
    positives it uncovers come at the training prevalence). A candidate with a ``source`` is
    ordered over that source's images only (``full_train_source``: the source of each of
    ``full_train_ids``; the pool's come from ``problem.train_table.source``).
    """
    from budgetplan.planner.images import prioritise_images

    rng = np.random.default_rng(seed)
    base_values = base.apply((problem.y_train, problem.train_ids, problem.classes))
    rest = _outside_pool(problem.train_ids, full_train_ids)
    perm = rng.permutation(len(rest))
    rest = rest[perm]
    pool_source = np.asarray(problem.train_table.source).astype(str)
    t = problem.target_index
    full: dict[Candidate, np.ndarray] = {}
    pool: dict[Candidate, np.ndarray] = {}
    by_source: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for cand in candidates:
        if cand.kind == ANNOTATE_TARGET:
            allowed = set(target_pool_ids.tolist())
            in_pool = np.array([i for i in problem.train_ids if i in allowed], dtype=object)
            in_pool = in_pool[rng.permutation(len(in_pool))]
            out_pool = np.array([i for i in rest if i in allowed], dtype=object)
            pool[cand] = in_pool
            full[cand] = np.concatenate([in_pool, out_pool])
            continue
        # the order depends on the base's target labels, the kNN, the allowed rows and the
        # seed, not on the class: one order per source serves every class of that source
        if cand.source not in by_source:
            c = problem.classes.index(cand.class_name)
            allowed_rows = np.arange(len(problem.train_ids))
            cand_rest = rest
            if cand.source:
                allowed_rows = np.flatnonzero(pool_source == cand.source)
                own = _rest_of_source(full_train_ids, full_train_source, problem.train_ids)
                cand_rest = rest[(own[perm] == cand.source)]
            rows = prioritise_images(
                base_values,
                problem.train_ids,
                t,
                c,
                allowed_rows,
                knn_indices,
                seed=seed,
            )
            in_order = problem.train_ids[rows]
            by_source[cand.source] = (in_order, np.concatenate([in_order, cand_rest]))
        pool[cand], full[cand] = by_source[cand.source]
    return Orders(full, pool)


# The split of the training ids into pool and rest is the same in every draw (one problem, one
# label table): kept per pair of id arrays, it costs a look-up instead of two passes over ~86k ids.
_REST: IdentityMemo[np.ndarray] = IdentityMemo(8)


def _outside_pool(pool_ids: np.ndarray, full_train_ids: np.ndarray) -> np.ndarray:
    """The training ids not in the pool, in ``full_train_ids`` order (read-only)."""

    def split() -> np.ndarray:
        pool_set = set(pool_ids.tolist())
        return np.array([i for i in full_train_ids if i not in pool_set], dtype=object)

    return _REST.get(pool_ids, full_train_ids, split)


def _rest_of_source(
    full_train_ids: np.ndarray, full_train_source: np.ndarray | None, pool_ids: np.ndarray
) -> np.ndarray:
    """The source of each id of :func:`_outside_pool` (as str; "" where unknown)."""
    source_of = (
        dict(zip(map(str, full_train_ids), map(str, full_train_source), strict=True))
        if full_train_source is not None
        else {}
    )
    rest = _outside_pool(pool_ids, full_train_ids)
    return np.array([source_of.get(str(i), "") for i in rest], dtype=object)


@dataclass(frozen=True)
class Sizer:
    """Sizes sets of candidates to one budget under one cost model (see the module doc)."""

    problem: SimProblem
    base: Assembly
    orders: Orders
    cost_model: CostModel
    budget: float | None

    def size(self, members: Sequence[Candidate]) -> SizedSet:
        """The set sized to the budget (:func:`size_set`)."""
        return size_set(self, members)

    def buys_pool_image(self, sized: SizedSet) -> bool:
        """Whether the set's images stand for at least one image of the simulation pool."""
        return self.problem.scale_count(sized.n_images) >= 1


def size_set(sizer: Sizer, members: Sequence[Candidate]) -> SizedSet:
    """The largest common ``n`` that fits the budget (all images when it is None)."""
    orders, cost_model, budget = sizer.orders, sizer.cost_model, sizer.budget
    problem, base = sizer.problem, sizer.base
    members = tuple(members)
    n_max = min(len(orders.full[m]) for m in members) if members else 0
    labels = sum(cost_model.label_cost_of(m.class_name) for m in members)
    read = cost_model.image_read_cost
    codes: list[np.ndarray] = []
    if read > 0 and len(members) > 1:  # distinct images matter only with a reading cost
        index = {
            str(i): k
            for k, i in enumerate(np.unique(np.concatenate([orders.full[m] for m in members])))
        }
        codes = [np.array([index[str(i)] for i in orders.full[m]], dtype=np.int64) for m in members]

    def fast_cost(n: int) -> float:
        """Labels plus one reading cost per distinct image (the CostModel's rule, vectorised)."""
        if n == 0:
            return 0.0
        if not codes:
            return n * labels + (n * read if members else 0.0)
        return n * labels + read * len(np.unique(np.concatenate([c[:n] for c in codes])))

    def cost_of(n: int) -> float:
        assign: dict[str, list[str]] = {}
        for m in members:
            for i in orders.full[m][:n]:
                assign.setdefault(str(i), []).append(m.class_name)
        return cost_model.cost(assign)

    if budget is None:
        n = n_max
    else:
        lo, hi = 0, n_max
        while lo < hi:  # largest n with cost(n) <= budget (cost is monotone in n)
            mid = (lo + hi + 1) // 2
            if fast_cost(mid) <= budget + 1e-9 * max(1.0, budget):
                lo = mid
            else:
                hi = mid - 1
        n = lo
        # the CostModel has the last word on a set; for one class fast_cost is its rule up to
        # float rounding (n * cost vs a sum of n costs, ~1e-12 relative, far below the 1e-9
        # tolerance), so the check can only change n for several classes
        while len(members) > 1 and n > 0 and cost_of(n) > budget + 1e-9 * max(1.0, budget):
            n -= 1
    assembly = base
    assignments: dict[Candidate, list[str]] = {}
    for m in members:
        k = problem.scale_count(n)
        ids = tuple(map(str, orders.pool[m][:k]))
        assembly = assembly.plus(Action(m.class_name, ids, m.kind_of_labels, m.source or None, n))
        assignments[m] = list(map(str, orders.full[m][:n]))
    name = " + ".join(_label(m) for m in members) if members else "baseline"
    assembly = Assembly(assembly.target, assembly.base_ids, assembly.actions, name)
    return SizedSet(members, n, cost_of(n) if codes else fast_cost(n), assembly, assignments)


def _label(c: Candidate) -> str:
    return c.label


def check_budget_buys(sized: Sequence[SizedSet], sizer: Sizer) -> None:
    """A budget that buys no simulated image of any candidate is an error (one line)."""
    budget, problem, cost_model = sizer.budget, sizer.problem, sizer.cost_model
    if budget is None:
        return
    if all(problem.scale_count(s.n_images) < 1 for s in sized):
        cheapest = min(
            (cost_model.image_cost(s.members[0].class_name) for s in sized), default=math.nan
        )
        per_pool = 1 / max(problem.pool_fraction, 1e-12)
        raise BudgetError(
            f"budget {budget:g} {cost_model.unit} buys nothing: one image of the cheapest class "
            f"costs {cheapest:g}, and the simulation needs at least {math.ceil(per_pool)} images "
            "per class (one pool image) to measure a gain"
        )


@dataclass(frozen=True)
class Single:
    """A candidate sized alone to the budget, with its measured evidence."""

    candidate: Candidate
    sized: SizedSet
    evidence: Evidence

    @property
    def stats(self) -> GainStats:
        return self.evidence.stats


@dataclass(frozen=True)
class Trial:
    """A set tried at a greedy step: its gain over the baseline and over the previous set."""

    name: str
    gain: float
    increment: float
    p_increment: float

    def to_dict(self) -> dict[str, object]:
        return {
            "set": self.name,
            "gain": self.gain,
            "increment": self.increment,
            "p_increment": self.p_increment,
        }


@dataclass
class GreedyStep:
    """One accepted greedy step: the set, its runs, gain over baseline and over the previous set."""

    sized: SizedSet
    runs: list[RunResult]
    stats: GainStats
    increment: GainStats
    tried: list[Trial] = field(default_factory=list)


def greedy_select(
    runner: Runner,
    sizer: Sizer,
    draws: Draws,
    base_runs: Sequence[RunResult],
    singles: Sequence[Single],
    *,
    seeds: int,
    selection: SelectionConfig,
) -> list[GreedyStep]:
    """Greedy forward selection with real training (see the module doc); [] = nothing worth it.

    ``selection.min_gain``: the smallest gain (and increment) that counts."""
    alpha, min_gain = selection.alpha, selection.min_gain
    eligible = sorted(
        (s for s in singles if s.stats.significant(alpha, min_gain)), key=lambda s: -s.stats.gain
    )
    if not eligible:
        return []
    seed_list = list(range(seeds))
    first = eligible[0]
    runs = runner.run(draws.specs(first.sized, seed_list), label="plan: best single")
    stats = gain_stats(runs, base_runs, alpha)
    steps = [GreedyStep(first.sized, runs, stats, stats)]
    members = [first.candidate]
    pool = [
        s
        for s in eligible[1:]
        if s.candidate.kind == ANNOTATE_CLASS or first.candidate.kind == ANNOTATE_CLASS
    ]
    while len(members) < selection.max_classes and pool:
        trial = [s for s in pool if s.candidate not in members][: selection.greedy_width]
        if not trial:
            break
        sets = [sizer.size([*members, s.candidate]) for s in trial]
        sets = [z for z in sets if sizer.buys_pool_image(z)]
        if not sets:
            break
        specs = [spec for z in sets for spec in draws.specs(z, seed_list)]
        results = runner.run(specs, label=f"plan: step {len(members) + 1}, {len(sets)} sets")
        prev = steps[-1]
        best: GreedyStep | None = None
        for k, z in enumerate(sets):
            r = results[k * seeds : (k + 1) * seeds]
            st = gain_stats(r, base_runs, alpha)
            inc = gain_stats(r, prev.runs, alpha)
            prev.tried.append(Trial(z.assembly.name, st.gain, inc.gain, inc.p_value))
            better = best is None or st.gain > best.stats.gain
            if inc.significant(alpha, min_gain) and st.significant(alpha, min_gain) and better:
                best = GreedyStep(z, r, st, inc)
        if best is None:
            break
        steps.append(best)
        members = list(best.sized.members)
        pool = [s for s in pool if s.candidate not in members]
    return steps


@dataclass(frozen=True)
class RandomControl:
    """Random class sets of the plan's size and cost, trained like the plan.

    ``runs``: per seed, the AUC averaged over the draws (named "random"); ``stats``: their
    paired gain over the baseline."""

    sets: list[SizedSet]
    runs: list[RunResult]
    stats: GainStats


def random_control(
    runner: Runner,
    sizer: Sizer,
    draws: Draws,
    base_runs: Sequence[RunResult],
    candidates: Sequence[Candidate],
    *,
    n_classes: int,
    seeds: int,
    n_sets: int = 2,
    seed: int = 0,
    alpha: float = 0.05,
) -> RandomControl:
    """Train ``n_sets`` random class sets of ``n_classes`` classes sized to the same budget."""
    rng = np.random.default_rng(seed + 7919)
    negatives = [c for c in candidates if c.kind == ANNOTATE_CLASS]
    k = max(1, min(n_classes, len(negatives)))
    sets: list[SizedSet] = []
    for _ in range(n_sets):
        pick = rng.choice(len(negatives), size=k, replace=False)
        sets.append(sizer.size([negatives[i] for i in sorted(pick)]))
    seed_list = list(range(seeds))
    results = runner.run(
        [spec for z in sets for spec in draws.specs(z, seed_list)], label="random control"
    )
    per_seed = np.nanmean(
        np.array([[r.auc for r in results[i * seeds : (i + 1) * seeds]] for i in range(len(sets))]),
        axis=0,
    )
    avg = [
        RunResult("random", "random", s, float(per_seed[s]), float("nan"), -1) for s in seed_list
    ]
    return RandomControl(sets, avg, gain_stats(avg, base_runs, alpha))
