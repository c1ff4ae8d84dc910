"""Executors run independent simulation jobs; the runner caches each result as it arrives.

Interface (the hook for a distributed engine): an executor has ``map(fn, jobs)`` that calls
``fn(job)`` for every job and yields ``(index, result)`` pairs *as they finish*, in any order.
``LocalExecutor`` runs them in this process, one after the other (the default: a batched
training call already uses every core through torch). ``ProcessExecutor`` runs them in a pool
of worker processes (useful when jobs are small or torch uses one thread each).

To run on Ray (or Dask, Slurm, ...), implement the same method, e.g.::

    class RayExecutor:
        def map(self, fn, jobs):
            remote = ray.remote(fn)
            refs = {remote.remote(job): i for i, job in enumerate(jobs)}
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                yield refs.pop(done[0]), ray.get(done[0])

and pass it as ``executor=`` to :class:`budgetplan.planner.runner.Runner`. Jobs and ``fn``
must then be picklable (they are: numpy arrays, dataclasses and a module-level function).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Protocol


class Executor(Protocol):
    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]: ...


class LocalExecutor:
    """Run jobs in this process, in order."""

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, job in enumerate(jobs):
            yield i, fn(job)


class ProcessExecutor:
    """Run jobs in ``workers`` spawned processes; results are yielded as each job finishes."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = max(1, int(workers))

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx) as pool:
            pending = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()


def make_executor(kind: str = "local", workers: int = 2) -> Executor:
    """``"local"`` or ``"process"``."""
    if kind == "process":
        return ProcessExecutor(workers)
    return LocalExecutor()
