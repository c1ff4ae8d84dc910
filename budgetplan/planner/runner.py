"""Simulation runner: train assemblies x seeds as batched replicas, score the target, cache each
run.

``Runner.run(specs)`` takes ``(assembly, seed)`` pairs, answers the cached ones from disk and
groups the rest into jobs of at most ``max_replicas`` replicas. Each job is ONE call of
``budgetplan.methods.trainer.train_replicas`` (every replica its own masked labels and seed), so
K candidates x S seeds of a round train as one batched model. Jobs go through an executor
(``budgetplan.planner.executor``) and every finished job's runs are written to the cache at once,
so an interrupted simulation keeps what it finished. An executor that runs jobs elsewhere gets
the arrays every job shares once (``executor.share``: Ray's object store, or files the worker
processes map, ``planner.job_transport``). Every executor gives
the same numbers to the bit: the torch engine batches replicas and gives a replica the same
weights only up to float round-off in batches of other sizes, so for it a round is cut into jobs
by ``max_replicas`` alone; the compiled CPU engine (``budgetplan.methods.fused``) trains each
replica in its own loop, the same to the bit in any batch (tested), so for it a round is cut into
about two jobs per worker, which keeps every worker busy to the round's end, and its runs are
ordered by draw first: the runs of one draw share their training seed, so the engine draws their
rows, views and dropout masks once for all of them (``fused.share_groups``).

Each run records the target's ROC AUC and average precision on the test split (all labels,
never masked). Gains over the baseline are paired by seed (``budgetplan.planner.stats``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from budgetplan.methods.train_config import TrainConfig
from budgetplan.planner.assembly import Assembly
from budgetplan.planner.cache import RunCache, run_key
from budgetplan.planner.executor import Executor, LocalExecutor
from budgetplan.planner.problem import SimProblem
from budgetplan.progress import ProgressFn

if TYPE_CHECKING:
    from budgetplan.methods.trainer import SoftExposureInputs


@dataclass(frozen=True)
class RunSpec:
    """One run: ``assembly`` trained in draw ``seed`` (the pairing key across candidates), with
    weights and batch order drawn from ``train_seed`` (default: ``seed``)."""

    assembly: Assembly
    seed: int
    train_seed: int | None = None

    @property
    def training_seed(self) -> int:
        return self.seed if self.train_seed is None else self.train_seed


@dataclass(frozen=True)
class RunResult:
    """One trained replica: target AUC / AP on the test split."""

    assembly_key: str
    name: str
    seed: int
    auc: float
    ap: float
    best_epoch: int
    cached: bool = False


@dataclass
class TrainJob:
    """One batched training call: R replicas over a shared training pool (picklable)."""

    x_train: np.ndarray
    y_train: np.ndarray  # (R, N, C) masked
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray  # (M,) target labels
    target_index: int
    config: TrainConfig
    seeds: tuple[int, ...]
    soft_exposure: SoftExposureInputs | None = None
    progress: ProgressFn | None = field(default=None, repr=False)


def execute_job(job: TrainJob) -> list[dict[str, float]]:
    """Train the job's replicas at once; return per replica ``auc``, ``ap``, ``best_epoch``."""
    from budgetplan.methods.metrics import average_precision_per_class, roc_auc_per_class
    from budgetplan.methods.trainer import train_replicas

    fit = train_replicas(
        job.x_train,
        job.y_train,
        job.x_val,
        job.y_val,
        job.config,
        job.seeds,
        soft_exposure=job.soft_exposure,
        progress=job.progress,
    )
    scores = fit.predict(job.x_test)[:, :, job.target_index]  # (R, M)
    r = scores.shape[0]
    y = np.broadcast_to(job.y_test[None, :, None], (r, len(job.y_test), 1))
    auc = roc_auc_per_class(y, scores[:, :, None])[:, 0]
    ap = average_precision_per_class(y, scores[:, :, None])[:, 0]
    return [
        {"auc": float(auc[i]), "ap": float(ap[i]), "best_epoch": int(fit.best_epoch[i])}
        for i in range(r)
    ]


JobFn = Callable[[TrainJob], list[dict[str, float]]]


class Runner:
    """Runs and caches simulated trainings for one :class:`SimProblem`.

    ``train_config``: how every run trains (``early_stop_classes`` is set to the target).
    ``job_fn``: the function an executor calls on a :class:`TrainJob` (default
    :func:`execute_job`; tests inject a fast fake). ``progress(done, total, message)`` counts
    runs (replicas), fractional within a local job.
    """

    def __init__(
        self,
        problem: SimProblem,
        train_config: TrainConfig,
        *,
        cache: RunCache | None = None,
        executor: Executor | None = None,
        max_replicas: int = 8,
        job_fn: JobFn = execute_job,
        progress: ProgressFn | None = None,
    ) -> None:
        self.problem = problem
        self.config = dataclasses.replace(train_config, early_stop_classes=(problem.target_index,))
        self.cache = cache if cache is not None else RunCache()
        self.executor = executor if executor is not None else LocalExecutor()
        self.max_replicas = max(1, int(max_replicas))
        self.job_fn = job_fn
        self.progress = progress
        self.n_trained = 0
        self.n_cached = 0
        self.seconds = 0.0
        self._memo: dict[str, RunResult] = {}
        self._params = {
            k: v for k, v in self.config.to_dict().items() if k not in ("device", "threads")
        }
        self._soft: SoftExposureInputs | None = None
        self._shared: dict[str, Any] | None = None

    def soft_exposure(self) -> SoftExposureInputs | None:
        """Relations the soft-exposure methods (se-l, se-i, se; seed 001 Eq. 4-8) need, from the
        pool.

        Label distance: median prototypes of the pool's reference labels (the relations a
        reference set tells); image distances: the pool's exact k = 10 neighbours.
        """
        if not self.config.method.startswith("se"):
            return None
        if self._soft is None:
            from budgetplan.methods.trainer import SoftExposureInputs
            from budgetplan.relations.knn import exact_self_knn
            from budgetplan.relations.soft_exposure import (
                knn_distances_from_similarities,
                label_distance,
            )

            p = self.problem
            # Always the array path (exact search among the pool rows): soft exposure needs
            # every row's full neighbour list with distances inside the pool, which the store's
            # kNN (planner.neighbours, neighbours outside the pool = -1) does not give.
            # cosine neighbours (seed 001 L2-normalises): 1 - s is then a cosine distance
            x = np.asarray(p.x_train, dtype=np.float32)
            unit = x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
            sims, idx = exact_self_knn(np.ascontiguousarray(unit), k=10)
            self._soft = SoftExposureInputs(
                label_distance(p.x_train, p.y_train), idx, knn_distances_from_similarities(sims)
            )
        return self._soft

    def shared_arrays(self) -> dict[str, Any]:
        """The job fields every job reads; an executor with ``share`` (Ray) stores them once."""
        if self._shared is None:
            p = self.problem
            values = {
                "x_train": p.x_train,
                "x_val": p.x_val,
                "y_val": p.y_val,
                "x_test": p.x_test,
                "y_test": p.y_test,
                "soft_exposure": self.soft_exposure(),
            }
            share = getattr(self.executor, "share", None)
            self._shared = dict(share(values)) if share is not None else values
        return self._shared

    def cut_freely(self) -> bool:
        """Whether a job's replicas train to the same bits in any job (the compiled engine)."""
        from budgetplan.device import device_type

        return self.config.uses_fused(device_type(self.config.device))

    def job_size(self, n_runs: int) -> int:
        """Replicas per job for a round of ``n_runs`` (see the module docstring)."""
        workers = int(getattr(self.executor, "parallelism", 1) or 1)
        if workers < 2 or not self.cut_freely():
            return self.max_replicas
        return max(1, min(self.max_replicas, -(-n_runs // (2 * workers))))

    def job_sizes(self, n_runs: int) -> list[int]:
        """Replicas in each job of a round of ``n_runs``, in the order the jobs are submitted.

        Where the cut cannot change the numbers (the compiled engine), the jobs differ by at most
        one replica, the larger first, so that two workers taking jobs as they free up end
        together (22 runs: 6, 6, 5, 5, not 6, 6, 6, 4); elsewhere jobs of :meth:`job_size`
        and the remainder last, the cut the torch engine's numbers depend on."""
        size = self.job_size(n_runs)
        if not self.cut_freely() or n_runs <= size:
            return [size] * (n_runs // size) + ([n_runs % size] if n_runs % size else [])
        jobs = -(-n_runs // size)
        return [n_runs // jobs + (1 if i < n_runs % jobs else 0) for i in range(jobs)]

    def key(self, spec: RunSpec) -> str:
        return run_key(
            self.problem.checksum,
            spec.assembly.key(),
            self.config.method,
            self._params,
            spec.training_seed if spec.train_seed is None else f"{spec.seed}:{spec.train_seed}",
        )

    def run(self, specs: Sequence[RunSpec], label: str = "") -> list[RunResult]:
        """Results of ``specs`` in order; only runs missing from the cache are trained."""
        keys = [self.key(s) for s in specs]
        out: dict[str, RunResult] = {}
        todo: dict[str, RunSpec] = {}
        for key, spec in zip(keys, specs, strict=True):
            if key in out or key in todo:
                continue
            if key in self._memo:
                out[key] = self._memo[key]
                continue
            rec = self.cache.get(key)
            if rec is not None:
                out[key] = RunResult(
                    spec.assembly.key(),
                    spec.assembly.name,
                    spec.seed,
                    rec["auc"],
                    rec["ap"],
                    rec.get("best_epoch", -1),
                    True,
                )
                self.n_cached += 1
            else:
                todo[key] = spec
        if todo:
            out.update(self._train(todo, label))
        self._memo.update(out)
        return [out[k] for k in keys]

    def _train(self, todo: dict[str, RunSpec], label: str) -> dict[str, RunResult]:
        items = list(todo.items())
        if self.cut_freely():  # the runs of one draw together: they share rows, views, masks
            items.sort(key=lambda item: item[1].training_seed)
        ends = np.cumsum(self.job_sizes(len(items))).tolist()
        groups = [items[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
        total = len(items)
        jobs = _LazyJobs(self, groups, label)
        results: dict[str, RunResult] = {}
        finished = 0
        if self.progress is not None:  # the round's bar from its start, not its first job
            self.progress(0, total, label)
        t0 = time.perf_counter()
        for gi, rows in self.executor.map(self.job_fn, jobs):
            for (key, spec), rec in zip(groups[gi], rows, strict=True):
                record = {
                    "assembly": spec.assembly.name,
                    "assembly_key": spec.assembly.key(),
                    "seed": spec.seed,
                    "method": self.config.method,
                    **rec,
                }
                self.cache.put(key, record)
                results[key] = RunResult(
                    spec.assembly.key(),
                    spec.assembly.name,
                    spec.seed,
                    rec["auc"],
                    rec["ap"],
                    rec.get("best_epoch", -1),
                )
            finished += len(groups[gi])
            self.n_trained += len(groups[gi])
            if self.progress is not None:
                self.progress(finished, total, label)
        self.seconds += time.perf_counter() - t0
        return results

    def make_job(self, group: Sequence[tuple[str, RunSpec]]) -> TrainJob:
        """The training job of ``group``: its replicas' label matrices and seeds."""
        p = self.problem
        y = np.stack(
            [spec.assembly.apply((p.y_train, p.train_ids, p.classes)) for _, spec in group]
        )
        return TrainJob(
            y_train=y,
            target_index=p.target_index,
            config=self.config,
            seeds=tuple(spec.training_seed for _, spec in group),
            **self.shared_arrays(),
        )

    def _inner_progress(self, offset: int, size: int, total: int, label: str) -> ProgressFn:
        def report(done: int, of: int, message: str = "") -> None:
            if self.progress is not None and of:
                frac = min(1.0, done / of)
                self.progress(int(offset + frac * size), total, label)

        return report


class _LazyJobs(Sequence[TrainJob]):
    """A round's jobs, each built when the executor first asks for it: an executor submits them
    in order, so the first job trains while the main process builds the next ones' labels."""

    def __init__(self, runner: Runner, groups: list[list[tuple[str, RunSpec]]], label: str):
        self.runner, self.groups, self.label = runner, groups, label
        self.offsets = np.concatenate([[0], np.cumsum([len(g) for g in groups])]).tolist()
        self._built: dict[int, TrainJob] = {}

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> TrainJob:  # type: ignore[override]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        if i not in self._built:
            r = self.runner
            job = r.make_job(self.groups[i])
            if isinstance(r.executor, LocalExecutor) and r.progress is not None:
                total = self.offsets[-1]
                job.progress = r._inner_progress(
                    self.offsets[i], len(self.groups[i]), total, self.label
                )
            self._built[i] = job
        return self._built[i]
