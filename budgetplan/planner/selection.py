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

Honesty: a candidate whose single gain is not significant (``runner.significant``) is never
chosen, and an empty plan ("no class is worth its cost") is a valid answer.

Random control: classes drawn at random (seeded) among all candidates, as many as the plan has
(one for an empty plan), sized to the same budget (equal cost), trained with the same seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from budgetplan.errors import BudgetError
from budgetplan.planner.assembly import ANNOTATE_CLASS, ANNOTATE_TARGET, Action, Assembly
from budgetplan.planner.costs import CostModel
from budgetplan.planner.problem import SimProblem
from budgetplan.planner.runner import Runner, RunResult, RunSpec, gain_stats, significant


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
        return f"{self.class_name} @ {self.source}" if self.source else self.class_name


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
    pool_set = set(problem.train_ids.tolist())
    rest = np.array([i for i in full_train_ids if i not in pool_set], dtype=object)
    rest = rest[rng.permutation(len(rest))]
    source_of = (
        dict(zip(map(str, full_train_ids), map(str, full_train_source), strict=True))
        if full_train_source is not None
        else {}
    )
    pool_source = np.asarray(problem.train_table.source).astype(str)
    t = problem.target_index
    full: dict[Candidate, np.ndarray] = {}
    pool: dict[Candidate, np.ndarray] = {}
    for cand in candidates:
        if cand.kind == ANNOTATE_TARGET:
            allowed = set(target_pool_ids.tolist())
            in_pool = np.array([i for i in problem.train_ids if i in allowed], dtype=object)
            in_pool = in_pool[rng.permutation(len(in_pool))]
            out_pool = np.array([i for i in rest if i in allowed], dtype=object)
            pool[cand] = in_pool
            full[cand] = np.concatenate([in_pool, out_pool])
            continue
        c = problem.classes.index(cand.class_name)
        allowed_rows = np.arange(len(problem.train_ids))
        cand_rest = rest
        if cand.source:
            allowed_rows = np.flatnonzero(pool_source == cand.source)
            cand_rest = np.array(
                [i for i in rest if source_of.get(str(i)) == cand.source], dtype=object
            )
        rows = prioritise_images(
            base_values,
            problem.train_ids,
            t,
            c,
            allowed_rows,
            knn_indices,
            seed=seed,
        )
        pool[cand] = problem.train_ids[rows]
        full[cand] = np.concatenate([pool[cand], cand_rest])
    return Orders(full, pool)


def size_set(
    members: Sequence[Candidate],
    orders: Orders,
    cost_model: CostModel,
    budget: float | None,
    problem: SimProblem,
    base: Assembly,
) -> SizedSet:
    """The largest common ``n`` that fits ``budget`` (all images when ``budget`` is None)."""
    members = tuple(members)
    n_max = min(len(orders.full[m]) for m in members) if members else 0
    labels = sum(cost_model.label_cost_of(m.class_name) for m in members)
    read = cost_model.image_read_cost
    index = (
        {
            str(i): k
            for k, i in enumerate(np.unique(np.concatenate([orders.full[m] for m in members])))
        }
        if members
        else {}
    )
    codes = (
        [np.array([index[str(i)] for i in orders.full[m]], dtype=np.int64) for m in members]
        if read > 0 and len(members) > 1
        else []
    )

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
        while n > 0 and cost_of(n) > budget + 1e-9 * max(
            1.0, budget
        ):  # the CostModel has the last word
            n -= 1
    assembly = base
    assignments: dict[Candidate, list[str]] = {}
    for m in members:
        k = problem.scale_count(n)
        ids = tuple(str(i) for i in orders.pool[m][:k])
        assembly = assembly.plus(Action(m.class_name, ids, m.kind, m.source or None, n))
        assignments[m] = [str(i) for i in orders.full[m][:n]]
    name = " + ".join(_label(m) for m in members) if members else "baseline"
    assembly = Assembly(assembly.target, assembly.base_ids, assembly.actions, name)
    return SizedSet(members, n, cost_of(n) if codes else fast_cost(n), assembly, assignments)


def _label(c: Candidate) -> str:
    return c.label


def check_budget_buys(
    sized: Sequence[SizedSet], budget: float | None, problem: SimProblem, cost_model: CostModel
) -> None:
    """A budget that buys no simulated image of any candidate is an error (one line)."""
    if budget is None:
        return
    if all(problem.scale_count(s.n_images) < 1 for s in sized):
        cheapest = min(
            (cost_model.image_cost(s.members[0].class_name) for s in sized), default=math.nan
        )
        per_pool = 1 / max(problem.pool_fraction, 1e-12)
        raise BudgetError(
            f"budget {budget:g} {cost_model.unit} buys nothing: one image of the cheapest class costs {cheapest:g}, "
            f"and the simulation needs at least {math.ceil(per_pool)} images per class (one pool image) to measure a gain"
        )


@dataclass
class GreedyStep:
    """One accepted greedy step: the set, its runs, gain over baseline and over the previous set."""

    sized: SizedSet
    runs: list[RunResult]
    stats: dict[str, float]
    increment: dict[str, float]
    tried: list[dict[str, object]] = field(default_factory=list)


def greedy_select(
    runner: Runner,
    base: Assembly,
    base_runs: Sequence[RunResult],
    singles: Sequence[tuple[Candidate, SizedSet, list[RunResult], dict[str, float]]],
    orders: Orders,
    cost_model: CostModel,
    budget: float | None,
    seeds: int,
    alpha: float = 0.05,
    max_classes: int = 3,
    width: int = 3,
    min_gain: float = 0.0,
) -> list[GreedyStep]:
    """Greedy forward selection with real training (see the module doc); [] = nothing worth it.

    ``min_gain``: the smallest gain (and increment) that counts (``runner.significant``)."""
    problem = runner.problem
    eligible = [s for s in singles if significant(s[3], alpha, min_gain)]
    eligible.sort(key=lambda s: -s[3]["gain"])
    if not eligible:
        return []
    seed_list = list(range(seeds))
    first_c, first_sized, _, _ = eligible[0]
    runs = runner.run(
        [RunSpec(first_sized.assembly, s) for s in seed_list], label="plan: best single"
    )
    stats = gain_stats(runs, base_runs, alpha)
    steps = [GreedyStep(first_sized, runs, stats, stats)]
    members = [first_c]
    pool = [
        s for s in eligible[1:] if s[0].kind == ANNOTATE_CLASS or first_c.kind == ANNOTATE_CLASS
    ]
    while len(members) < max_classes and pool:
        trial = [s for s in pool if s[0] not in members][:width]
        if not trial:
            break
        sets = [
            size_set([*members, s[0]], orders, cost_model, budget, problem, base) for s in trial
        ]
        sets = [z for z in sets if problem.scale_count(z.n_images) >= 1]
        if not sets:
            break
        specs = [RunSpec(z.assembly, s) for z in sets for s in seed_list]
        results = runner.run(specs, label=f"plan: step {len(members) + 1}, {len(sets)} sets")
        prev = steps[-1]
        best = None
        tried = []
        for k, z in enumerate(sets):
            r = results[k * seeds : (k + 1) * seeds]
            st = gain_stats(r, base_runs, alpha)
            inc = gain_stats(r, prev.runs, alpha)
            tried.append(
                {
                    "set": z.assembly.name,
                    "gain": st["gain"],
                    "increment": inc["gain"],
                    "p_increment": inc["p_value"],
                }
            )
            if (
                significant(inc, alpha, min_gain)
                and significant(st, alpha, min_gain)
                and (best is None or st["gain"] > best[2]["gain"])
            ):
                best = (z, r, st, inc)
        prev.tried = tried
        if best is None:
            break
        z, r, st, inc = best
        steps.append(GreedyStep(z, r, st, inc))
        members = list(z.members)
        pool = [s for s in pool if s[0] not in members]
    return steps


def random_control(
    runner: Runner,
    base: Assembly,
    base_runs: Sequence[RunResult],
    candidates: Sequence[Candidate],
    n_classes: int,
    orders: Orders,
    cost_model: CostModel,
    budget: float | None,
    seeds: int,
    draws: int = 2,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[list[SizedSet], list[float], dict[str, float], list[RunResult]]:
    """Train ``draws`` random class sets of the plan's size and cost; pooled per seed.

    Returns the sets, the per-seed AUC averaged over draws, the paired gain stats of that average
    over the baseline, and the averaged runs (as RunResults named "random").
    """
    rng = np.random.default_rng(seed + 7919)
    negatives = [c for c in candidates if c.kind == ANNOTATE_CLASS]
    k = max(1, min(n_classes, len(negatives)))
    sets: list[SizedSet] = []
    for _ in range(draws):
        pick = rng.choice(len(negatives), size=k, replace=False)
        sets.append(
            size_set(
                [negatives[i] for i in sorted(pick)],
                orders,
                cost_model,
                budget,
                problem=runner.problem,
                base=base,
            )
        )
    seed_list = list(range(seeds))
    results = runner.run(
        [RunSpec(z.assembly, s) for z in sets for s in seed_list], label="random control"
    )
    per_seed = np.nanmean(
        np.array([[r.auc for r in results[i * seeds : (i + 1) * seeds]] for i in range(len(sets))]),
        axis=0,
    )
    avg = [
        RunResult("random", "random", s, float(per_seed[s]), float("nan"), -1) for s in seed_list
    ]
    return sets, per_seed.tolist(), gain_stats(avg, base_runs, alpha), avg
