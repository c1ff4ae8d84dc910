"""Draws of the study: what a seed redraws, so that a measured gain holds on a new draw.

A real study does not control which target positives it happens to have, which images a
candidate's labels land on where the order is random, nor the model's initial weights and batch
order. Draw ``s`` redraws all of them from its own seed (``Draws.seed(s)``, from the recipe's
``seed`` and ``s`` through ``numpy.random.SeedSequence``, so draws of different recipe seeds
never overlap):

- the kept target positives (``assembly.base_state`` under ``--target-positives``) and with
  them the dropped ones that "annotate more target images" draws from;
- the images each candidate labels: the priority order (the target's kNN hard negatives of
  the draw's kept positives first, then a seeded random order) is rebuilt per draw;
- initialisation and batch order (the run's ``train_seed``).

The baseline and every candidate are paired per draw (same kept positives, same weights and
batch order), and CIs are across draws. The patient-wise train/validation/test split is fixed
(one prepared problem); redrawing it too is not built yet (see the README).

The plan's own image lists come from draw 0's orders: they are the study as budgetplan sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from budgetplan.data.label_table import LabelTable
from budgetplan.planner.assembly import Action, Assembly, base_state
from budgetplan.planner.problem import SimProblem
from budgetplan.planner.runner import RunSpec
from budgetplan.planner.selection import Candidate, Orders, SizedSet, build_orders

REDRAWN = (
    "which target positives are kept, the images each candidate labels (hard negatives of the "
    "kept positives first, then a random order), and the model's initial weights and batch order"
)


@dataclass(frozen=True)
class Draw:
    """One draw of the study: its seed, base state, dropped target positives and orders."""

    index: int
    seed: int
    base: Assembly
    dropped: np.ndarray
    orders: Orders


class Draws:
    """The draws of one planning question, built lazily and kept."""

    def __init__(
        self,
        problem: SimProblem,
        labels: LabelTable,
        candidates: list[Candidate],
        *,
        knn: np.ndarray | None,
        target_positives: int | None,
        seed: int,
    ) -> None:
        self.problem = problem
        self.labels = labels
        self.candidates = candidates
        self.knn = knn
        self.target_positives = target_positives
        self.base_seed = seed
        self._draws: dict[int, Draw] = {}
        self._assemblies: dict[tuple[object, ...], Assembly] = {}

    def seed(self, index: int) -> int:
        """The seed of draw ``index`` (31-bit, independent across recipe seeds)."""
        state = np.random.SeedSequence([int(self.base_seed), int(index)]).generate_state(1)
        return int(state[0] & 0x7FFFFFFF)

    def draw(self, index: int) -> Draw:
        if index not in self._draws:
            self._draws[index] = self._make(index)
        return self._draws[index]

    def _make(self, index: int) -> Draw:
        seed = self.seed(index)
        p, labels = self.problem, self.labels
        base, dropped = base_state(p.train_table, p.target, self.target_positives, seed)
        train = labels.split == "train"
        t_col = labels.values[:, labels.class_index(p.target)]
        negatives = labels.ids[train & (t_col == 0)]
        orders = build_orders(
            p,
            self.candidates,
            base,
            full_train_ids=labels.ids[train],
            target_pool_ids=np.concatenate([dropped, negatives]),
            knn_indices=self.knn,
            seed=seed,
            full_train_source=labels.source[train],
        )
        return Draw(index, seed, base, dropped, orders)

    def assembly(self, sized: SizedSet, index: int) -> Assembly:
        """``sized``'s labels in draw ``index``: the draw's base plus, per member, the first
        pool images of the draw's order (as many as ``sized.n_images`` stand for)."""
        memo = (sized.members, sized.n_images, sized.assembly.name, index)
        if memo in self._assemblies:  # the race, greedy and control ask again for the same
            return self._assemblies[memo]
        d = self.draw(index)
        k = self.problem.scale_count(sized.n_images) if sized.members else 0
        assembly = d.base
        for m in sized.members:
            ids = tuple(map(str, d.orders.pool[m][:k]))
            assembly = assembly.plus(
                Action(m.class_name, ids, m.kind_of_labels, m.source or None, sized.n_images)
            )
        name = sized.assembly.name
        out = Assembly(assembly.target, assembly.base_ids, assembly.actions, name)
        self._assemblies[memo] = out
        return out

    def specs(self, sized: SizedSet, draws: Iterable[int]) -> list[RunSpec]:
        """Run specs of ``sized`` in each of ``draws``, paired by draw index."""
        return [RunSpec(self.assembly(sized, s), s, self.seed(s)) for s in draws]
