"""Executors run independent simulation jobs; the runner caches each result as it arrives.

Interface (the hook for a distributed engine): an executor has ``map(fn, jobs)`` that calls
``fn(job)`` for every job and yields ``(index, result)`` pairs *as they finish*, in any order.
Two optional members: ``parallelism`` (how many jobs run at once; the runner splits a round
into at least that many jobs) and ``share(values) -> values`` (store the arrays every job
reads once, e.g. in Ray's object store, and give the handles jobs carry instead).

``LocalExecutor`` runs them in this process, one after the other (the default: the embedded
demo needs nothing else). ``ProcessExecutor`` runs them in a pool of worker processes.
``RayExecutor`` (:mod:`budgetplan.planner.ray_executor`, loaded only when asked for) runs them
as Ray tasks on a local Ray or a cluster. Jobs and ``fn`` must be picklable (they are: numpy
arrays, dataclasses and a module-level function).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Protocol

from budgetplan.errors import BudgetplanError

if TYPE_CHECKING:
    from budgetplan.config import SimulationConfig

EXECUTORS = ("local", "process", "ray")


class Executor(Protocol):
    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]: ...


class LocalExecutor:
    """Run jobs in this process, in order."""

    parallelism = 1

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, job in enumerate(jobs):
            yield i, fn(job)


class ProcessExecutor:
    """Run jobs in ``workers`` spawned processes; results are yielded as each job finishes."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = max(1, int(workers))
        self.parallelism = self.workers

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx) as pool:
            pending = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()


def make_executor(
    kind: str = "local",
    workers: int = 2,
    *,
    ray_address: str | None = None,
    device: str = "auto",
    task_cpus: float = 1.0,
    task_gpus: float = 1.0,
) -> Executor:
    """``"local"``, ``"process"`` (``workers`` processes) or ``"ray"`` (imports Ray only then).

    Ray: ``ray_address`` None starts a local Ray, ``"auto"`` / an address joins a cluster; each
    task asks for ``task_cpus`` CPUs and, on a GPU ``device``, ``task_gpus`` GPUs (a fraction
    allowed).
    """
    if kind == "ray":
        from budgetplan.planner.ray_executor import RayExecutor

        return RayExecutor(
            address=ray_address, num_cpus=task_cpus, num_gpus=task_gpus, device=device
        )
    if kind == "process":
        return ProcessExecutor(workers)
    if kind == "local":
        return LocalExecutor()
    raise BudgetplanError(f"executor {kind!r} is not one of {', '.join(EXECUTORS)}")


def executor_for(sim: SimulationConfig, device: str = "auto", threads: int = 1) -> Executor:
    """The executor a recipe's ``simulation`` section asks for (a task uses ``threads`` CPUs)."""
    return make_executor(
        sim.executor,
        sim.workers,
        ray_address=sim.ray_address,
        device=device,
        task_cpus=max(1, int(threads)),
        task_gpus=sim.ray_gpus,
    )
