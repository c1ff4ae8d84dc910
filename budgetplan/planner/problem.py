"""The arrays every simulated training of one planning question shares.

A :class:`SimProblem` is prepared once per ``recommend``/``simulate`` call: the training pool,
the validation set (target only, for early stopping) and the test set (the target, scored),
optionally reduced for speed. Why reduce (documented defaults in ``SimulationConfig``): one epoch
of one replica on all 112k x 1024 NIH vectors costs about a second on two cores, and the planner
trains dozens of replicas, so it can train on

- a training pool of every kept target positive (at most half the pool) plus a random sample of
  the other training images (``pool_images`` in total): the target's negatives stay plentiful,
  and actions on the real training set are scaled to the pool in proportion (``scale_count``);
- a validation sample (all target positives + random negatives, ``val_images``);
- the embeddings projected by PCA fitted on the pool (``dim`` components), rescaled to unit
  mean squared norm.

The test split is never subsampled: gains are measured on all of it. ``bench/recommend.py``
checks the ranking of gains on a reduced problem against a full-size run: PCA to 64 dimensions
kept it (rho +0.90 with every training image), an 8k pool did not (rho -0.73), so the default
recipe keeps every training image (``pool_images: null``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from budgetplan.config import SimulationConfig
from budgetplan.data.label_table import LabelTable
from budgetplan.errors import BudgetplanError
from budgetplan.planner.prepared import PreparedCache, digest_rows, prepared_key


@dataclass
class SimProblem:
    """Prepared arrays. ``y_train`` is the *reference* (fully labelled) training pool."""

    classes: list[str]
    target: str
    x_train: np.ndarray
    y_train: np.ndarray
    train_ids: np.ndarray
    train_table: LabelTable
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    checksum: str
    n_train_full: int
    simulated: bool = False
    pool_rows: np.ndarray | None = None  # rows of the dataset the pool holds (x_train order)
    reduced: bool = False  # x_train is a PCA projection, not the dataset's own vectors

    @property
    def target_index(self) -> int:
        return self.classes.index(self.target)

    @property
    def pool_fraction(self) -> float:
        """Training pool size / full training set size (actions are scaled by it)."""
        return len(self.train_ids) / max(1, self.n_train_full)

    def scale_count(self, n_full: int) -> int:
        """How many pool images stand for ``n_full`` images of the full training set."""
        return int(min(len(self.train_ids), round(n_full * self.pool_fraction)))


def check_target(table: LabelTable, target: str) -> str:
    """The target's canonical name; unknown names or a target with no positives raise."""
    name = table.classes[table.class_index(target)]
    col = table.column(name)
    for split in ("train", "test"):
        n_pos = int(np.nansum(col[table.split == split] == 1))
        if n_pos == 0:
            what = "training" if split == "train" else "evaluation (test)"
            raise BudgetplanError(
                f"target {name!r} has no positive images in the {what} split; "
                "the planner cannot measure a gain for it "
                "(choose another target or add labelled images)"
            )
    if int(np.nansum(col[table.split == "val"] == 1)) == 0:
        raise BudgetplanError(f"target {name!r} has no positive images in the validation split")
    return name


def prepare_problem(
    table: LabelTable,
    vectors: np.ndarray,
    target: str,
    sim: SimulationConfig | None = None,
    *,
    seed: int = 0,
    data_checksum: str = "",
    simulated: bool = False,
    cache: PreparedCache | None = None,
) -> SimProblem:
    """Build the reduced arrays (see the module doc); ``vectors`` are aligned with ``table``
    rows. ``cache``: where the PCA projection is kept between runs (keyed on the data checksum,
    the rows drawn, the dimension and the seed; only when ``data_checksum`` is given)."""
    sim = sim if sim is not None else SimulationConfig()
    target = check_target(table, target)
    t = table.class_index(target)
    rng = np.random.default_rng(seed)
    col = table.values[:, t]

    train = np.flatnonzero(table.split == "train")
    train_pos = train[col[train] == 1]
    rest = np.setdiff1d(train, train_pos)
    if sim.pool_images is not None and len(train) > sim.pool_images:
        # positives fill at most half the pool: a pool of only positives (a common target
        # with a small --quick pool) has no negatives to learn from (baseline AUC 0.5)
        n_pos = min(len(train_pos), sim.pool_images // 2)
        if n_pos < len(train_pos):
            train_pos = np.sort(rng.choice(train_pos, size=n_pos, replace=False))
        n_rest = max(0, sim.pool_images - len(train_pos))
        rest = np.sort(rng.choice(rest, size=min(n_rest, len(rest)), replace=False))
    pool = np.sort(np.concatenate([train_pos, rest]))

    val = np.flatnonzero((table.split == "val") & ~np.isnan(col))
    if sim.val_images is not None and len(val) > sim.val_images:
        vpos = val[col[val] == 1]
        vneg = val[col[val] == 0]
        n_neg = max(0, sim.val_images - len(vpos))
        vneg = rng.choice(vneg, size=min(n_neg, len(vneg)), replace=False)
        val = np.sort(np.concatenate([vpos, vneg]))
    test = np.flatnonzero((table.split == "test") & ~np.isnan(col))

    rows_digest = [digest_rows(r) for r in (pool, val, test)]
    reduced = sim.dim is not None and sim.dim < vectors.shape[1]
    if reduced and cache is not None and data_checksum:
        assert sim.dim is not None
        dim = sim.dim
        key = prepared_key(
            "pca", {"data": data_checksum, "rows": rows_digest, "dim": dim, "seed": seed}
        )
        names = ("x_train", "x_val", "x_test")
        got = cache.get_or_compute(
            "pca",
            key,
            lambda: dict(zip(names, _project(vectors, (pool, val, test), dim, seed), strict=True)),
            {"x_train": (len(pool), dim), "x_val": (len(val), dim), "x_test": (len(test), dim)},
        )
        x_train, x_val, x_test = got["x_train"], got["x_val"], got["x_test"]
    elif reduced:
        assert sim.dim is not None
        x_train, x_val, x_test = _project(vectors, (pool, val, test), sim.dim, seed)
    else:
        x_train, x_val, x_test = (
            np.asarray(vectors[r], dtype=np.float32) for r in (pool, val, test)
        )

    y_val = np.full((len(val), table.n_classes), np.nan, dtype=np.float32)
    y_val[:, t] = col[val]
    key = json.dumps(
        {
            "data": data_checksum,
            "target": target,
            "pool": sim.pool_images,
            "val": sim.val_images,
            "dim": sim.dim,
            "seed": seed,
            # the rows themselves, so a change in how the pool is drawn never reuses stale runs
            "rows": rows_digest,
        },
        sort_keys=True,
    )
    if not data_checksum:  # no store checksum: hash the arrays themselves
        key += hashlib.sha256(
            np.ascontiguousarray(x_train).tobytes() + table.values[pool].tobytes()
        ).hexdigest()
    return SimProblem(
        classes=list(table.classes),
        target=target,
        x_train=x_train,
        y_train=table.values[pool].copy(),
        train_ids=table.ids[pool],
        train_table=table.subset(pool),
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=col[test].astype(np.float32),
        checksum=hashlib.sha256(key.encode()).hexdigest()[:24],
        n_train_full=len(train),
        simulated=simulated,
        pool_rows=pool,
        reduced=bool(reduced),
    )


def _project(
    vectors: np.ndarray, rows: tuple[np.ndarray, ...], dim: int, seed: int
) -> tuple[np.ndarray, ...]:
    """``_pca`` of the vectors at ``rows`` (pool, validation, test)."""
    parts = [np.asarray(vectors[r], dtype=np.float32) for r in rows]
    return _pca(parts[0], parts[1], parts[2], dim, seed)


def _pca(
    x_train: np.ndarray, x_val: np.ndarray, x_test: np.ndarray, dim: int, seed: int
) -> tuple[np.ndarray, ...]:
    """Project on the top ``dim`` principal axes of the pool; unit mean squared norm after."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=dim, svd_solver="randomized", random_state=seed).fit(x_train)
    out = [pca.transform(x).astype(np.float32) for x in (x_train, x_val, x_test)]
    scale = float(np.sqrt(np.mean(np.sum(out[0] ** 2, axis=1)))) or 1.0
    return tuple(o / scale for o in out)


DECOY = "decoy"


def with_decoy(problem: SimProblem, prevalence: float, seed: int) -> SimProblem:
    """The problem with one more class, ``decoy``: labels drawn at random (``prevalence``,
    ``seed``) on the training pool, unrelated to the images and to the target.

    Trained like every candidate, the decoy measures how often the planner calls a gain
    significant when there is none: if it comes out significant, the run is not trustworthy.
    Validation and test never see it (they score the target only)."""
    rng = np.random.default_rng([int(seed), 0xDEC0])
    n = len(problem.train_ids)
    column = (rng.random(n) < prevalence).astype(np.float32)
    y_train = np.concatenate([problem.y_train, column[:, None]], axis=1)
    y_val = np.concatenate(
        [problem.y_val, np.full((len(problem.y_val), 1), np.nan, np.float32)], axis=1
    )
    t = problem.train_table
    table = LabelTable(y_train, [*t.classes, DECOY], t.ids, t.source, t.patient, t.split, t.meta)
    return dataclasses.replace(
        problem,
        classes=[*problem.classes, DECOY],
        y_train=y_train,
        y_val=y_val,
        train_table=table,
        checksum=hashlib.sha256(
            f"{problem.checksum}|decoy|{prevalence:.6f}|{seed}".encode()
        ).hexdigest()[:24],
    )
