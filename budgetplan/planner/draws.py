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
- initialisation and batch order (the run's ``train_seed``);
- the decoy's random labels (a new labelling at the same prevalence in every draw: a decoy
  fixed for the whole run is one random labelling, whose own systematic effect no CI across
  draws can cover; bench/README.md, "Trust");
- with ``redraw_split`` (``simulation.redraw_split``), which patients train: each draw leaves
  out a random patient-wise share of the training pool, the share a redrawn patient-wise
  train/validation split would move to validation (n_val / (n_train + n_val) patients). The
  left-out images get no label in that draw. Validation (early stopping, target only) and test
  (the yardstick) stay fixed, so gains stay comparable across draws.

The baseline and every candidate are paired per draw (same kept positives, same weights and
batch order, same left-out patients), and CIs are across draws.

The plan's own image lists come from draw 0's orders: they are the study as budgetplan sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from budgetplan.data.label_table import LabelTable
from budgetplan.planner.assembly import Action, Assembly, base_state
from budgetplan.planner.problem import DECOY, SimProblem
from budgetplan.planner.runner import RunSpec
from budgetplan.planner.selection import DECOY_KIND, Candidate, Orders, SizedSet, build_orders

REDRAWN = (
    "which target positives are kept, the images each candidate labels (hard negatives of the "
    "kept positives first, then a random order), the decoy's random labels, and the model's "
    "initial weights and batch order"
)
REDRAWN_SPLIT = "which patients train (a patient-wise share left out per draw, as a redrawn split)"


def redrawn(redraw_split: bool = False) -> str:
    """What a seed redraws, for the output."""
    return f"{REDRAWN}; {REDRAWN_SPLIT}" if redraw_split else REDRAWN


@dataclass(frozen=True)
class Draw:
    """One draw of the study: its seed, base state, dropped target positives and orders."""

    index: int
    seed: int
    base: Assembly
    dropped: np.ndarray
    orders: Orders
    left_out: np.ndarray  # training ids this draw leaves out (``redraw_split``; else empty)


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
        redraw_split: bool = False,
    ) -> None:
        self.problem = problem
        self.labels = labels
        self.candidates = candidates
        self.knn = knn
        self.target_positives = target_positives
        self.base_seed = seed
        self.redraw_split = redraw_split
        self._draws: dict[int, Draw] = {}
        self._assemblies: dict[tuple[object, ...], Assembly] = {}
        self._full_train: tuple[np.ndarray, np.ndarray] | None = None

    def seed(self, index: int) -> int:
        """The seed of draw ``index`` (31-bit, independent across recipe seeds)."""
        state = np.random.SeedSequence([int(self.base_seed), int(index)]).generate_state(1)
        return int(state[0] & 0x7FFFFFFF)

    def draw(self, index: int) -> Draw:
        if index not in self._draws:
            self._draws[index] = self._make(index)
        return self._draws[index]

    @property
    def left_out_share(self) -> float:
        """The patient-wise validation share of the data's split: n_val / (n_train + n_val)."""
        patients = np.asarray(self.labels.patient).astype(str)
        n_train = len(set(patients[self.labels.split == "train"].tolist()))
        n_val = len(set(patients[self.labels.split == "val"].tolist()))
        return n_val / max(1, n_train + n_val)

    def _left_out(self, seed: int) -> np.ndarray:
        """Training ids of a random patient-wise ``left_out_share`` of the pool's patients."""
        table = self.problem.train_table
        if not self.redraw_split:
            return np.zeros(0, dtype=table.ids.dtype)
        patients = np.asarray(table.patient).astype(str)
        unique = np.unique(patients)
        rng = np.random.default_rng([seed, 0x5B17])
        n_out = int(round(self.left_out_share * len(unique)))
        out = rng.choice(unique, size=n_out, replace=False)
        return np.asarray(table.ids)[np.isin(patients, out)]

    def _make(self, index: int) -> Draw:
        seed = self.seed(index)
        p, labels = self.problem, self.labels
        left_out = self._left_out(seed)
        table = p.train_table
        rows = np.flatnonzero((table.split == "train") & ~np.isin(table.ids, left_out))
        base, dropped = base_state(table, p.target, self.target_positives, seed, rows=rows)
        train = labels.split == "train"
        t_col = labels.values[:, labels.class_index(p.target)]
        negatives = labels.ids[train & (t_col == 0)]
        if self._full_train is None:  # one array for every draw: build_orders keeps its split
            self._full_train = (labels.ids[train], labels.source[train])
        orders = build_orders(
            p,
            self.candidates,
            base,
            full_train_ids=self._full_train[0],
            target_pool_ids=np.concatenate([dropped, negatives]),
            knn_indices=self.knn,
            seed=seed,
            full_train_source=self._full_train[1],
        )
        return Draw(index, seed, base, dropped, orders, left_out)

    def assembly(self, sized: SizedSet, index: int) -> Assembly:
        """``sized``'s labels in draw ``index``: the draw's base plus, per member, the first
        pool images of the draw's order (as many as ``sized.n_images`` stand for) that the draw
        does not leave out; the decoy's labels are drawn afresh from the draw's seed."""
        memo = (sized.members, sized.n_images, sized.assembly.name, index)
        if memo in self._assemblies:  # the race, greedy and control ask again for the same
            return self._assemblies[memo]
        d = self.draw(index)
        k = self.problem.scale_count(sized.n_images) if sized.members else 0
        assembly = d.base
        for m in sized.members:
            order = d.orders.pool[m]
            if d.left_out.size:
                order = order[~np.isin(order, d.left_out)]
            ids = tuple(map(str, order[:k]))
            own = self._decoy_labels(len(ids), d.seed) if m.kind == DECOY_KIND else None
            assembly = assembly.plus(
                Action(m.class_name, ids, m.kind_of_labels, m.source or None, sized.n_images, own)
            )
        name = sized.assembly.name
        out = Assembly(assembly.target, assembly.base_ids, assembly.actions, name)
        self._assemblies[memo] = out
        return out

    def _decoy_labels(self, n: int, seed: int) -> tuple[float, ...]:
        """``n`` random labels at the decoy column's prevalence, drawn from the draw's seed."""
        y = self.problem.y_train[:, self.problem.classes.index(DECOY)]
        prevalence = float(np.nanmean(y)) if y.size else 0.0
        rng = np.random.default_rng([seed, 0xDEC0])
        return tuple(float(v) for v in (rng.random(n) < prevalence))

    def specs(self, sized: SizedSet, draws: Iterable[int]) -> list[RunSpec]:
        """Run specs of ``sized`` in each of ``draws``, paired by draw index."""
        return [RunSpec(self.assembly(sized, s), s, self.seed(s)) for s in draws]
