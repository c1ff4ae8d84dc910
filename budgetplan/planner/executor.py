"""Executors run independent simulation jobs; the runner caches each result as it arrives.

Interface (the hook for a distributed engine): an executor has ``map(fn, jobs)`` that calls
``fn(job)`` for every job and yields ``(index, result)`` pairs *as they finish*, in any order.
Two optional members: ``parallelism`` (how many jobs run at once) and ``share(values) ->
values`` (store the arrays every job reads once, in Ray's object store or, for worker
processes, in files (``job_transport``), and give the handles jobs carry instead). How a
round is cut into jobs never depends on the executor (the runner's ``max_replicas``), so every
executor gives the same numbers to the bit.

``LocalExecutor`` runs them in this process, one after the other. ``ProcessExecutor`` runs them
in a pool of worker processes started on first use and kept for the later rounds. Where the
platform has a fork server (Linux, macOS), the workers are forked from one that imported torch,
numba and the other libraries a job needs once (:data:`WORKER_IMPORTS`, ~2.5 s of one core),
started as soon as a run is known to train, so that those imports overlap work the driver must
do first (:func:`start_worker_server` before the embedded demo is built,
``ProcessExecutor.start`` while a set-up not found in the prepared cache runs); elsewhere each
worker is spawned and imports them at its first job.
``RayExecutor`` (:mod:`budgetplan.planner.ray_executor`, loaded only when asked for) runs them
as Ray tasks on a local Ray or a cluster. ``auto`` (the default) is a ``ProcessExecutor`` over
this machine's cores when it has more than one and the problem has at least
:data:`AUTO_MIN_ROWS` training rows (enough work per job to pay for starting the workers), else
local. Its workers start with ``__main__`` hidden (:func:`main_hidden`): a new worker
normally re-imports the caller's main script, which a Streamlit app (its script is ``__main__``
while it runs) or a library user's script without an ``if __name__ == "__main__":`` guard would
run again in every worker; so ``auto`` works the same from the command, the app and a script.
A job function defined in ``__main__`` cannot reach such workers: ``auto`` runs it locally.
Jobs and ``fn`` must be picklable (they are: numpy arrays, dataclasses and a module-level
function).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Protocol

from budgetplan.config import EXECUTORS
from budgetplan.errors import BudgetplanError
from budgetplan.io import process_alive

if TYPE_CHECKING:
    from budgetplan.config import SimulationConfig


AUTO_MIN_ROWS = 5_000
"""``auto`` uses worker processes from this many training rows on (the embedded default has
12,000; the digits recipe ~1,200 and the tests' problems fewer, where starting workers that
import torch costs more than it saves: bench/README.md, "Executors")."""


WORKER_IMPORTS = ("numpy", "pandas", "scipy.linalg.cython_blas", "threadpoolctl", "numba", "torch")
"""What a fork server imports once for every worker: the libraries a job needs, ~2.5 s of a
worker's first job (budgetplan's own modules take ~0.1 s). Not budgetplan itself: Python 3.11's
fork server imports with its own ``sys.path`` (the working directory first), so a ``budgetplan``
folder there would be imported in place of the driver's; each worker imports budgetplan after
taking the driver's ``sys.path``, so it runs the driver's code."""


def worker_context() -> multiprocessing.context.BaseContext:
    """How workers start: forked from a fork server that imported :data:`WORKER_IMPORTS` once,
    where the platform has one (a fresh interpreter each, like spawn, but without paying the
    imports per worker); else spawned. Neither re-runs the caller's script (``main_hidden``)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(WORKER_IMPORTS))
    return ctx


class Executor(Protocol):
    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]: ...


@contextlib.contextmanager
def main_hidden() -> Iterator[None]:
    """Within this block ``__main__`` is a bare module, so a process spawned here imports nothing
    of the caller's script (multiprocessing's spawn re-imports ``__main__`` by its file or spec,
    and a bare module has neither)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class LocalExecutor:
    """Run jobs in this process, in order."""

    parallelism = 1

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, job in enumerate(jobs):
            yield i, fn(job)


class ProcessExecutor:
    """Run jobs in ``workers`` processes; results are yielded as each job finishes.

    The pool starts at :meth:`start` or on the first round with more than one job, and is kept
    for the later rounds
    (a worker imports torch once, not once a round); a round of one job runs in this process.
    Workers ignore SIGINT, so Ctrl-C reaches only this process, which stops them (``close``,
    also at exit). A worker that dies (killed, out of memory) is one :class:`BudgetplanError`;
    the runs finished before it are cached.
    """

    def __init__(self, workers: int = 2, *, hide_main: bool = False) -> None:
        from budgetplan.planner.job_transport import SharedFiles

        self.workers = max(1, int(workers))
        self.parallelism = self.workers
        self.hide_main = hide_main  # spawn workers with ``__main__`` hidden (``main_hidden``)
        self._pool: ProcessPoolExecutor | None = None
        self._finalizer: weakref.finalize | None = None
        self._files = SharedFiles()
        self._context = worker_context()
        self._server_started = False

    def share(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The arrays every job reads, written once for the workers (``job_transport``)."""
        return self._files.share(values)

    def start(self) -> None:
        """Begin the workers' imports now, in the background, instead of at the first round.

        With a fork server, it starts importing torch and numba (:data:`WORKER_IMPORTS`)
        while the caller goes on; the workers are forked from it at the first round. Without
        one, the workers are spawned now (each imports torch at its first job)."""
        if not self.start_server():
            self._start()

    def start_server(self) -> bool:
        """Start the fork server the workers will come from (it imports torch and numba in the
        background); True if it runs. False without a fork server here, or where it could not
        start (an OSError: :meth:`start` then starts the workers themselves)."""
        if self._context.get_start_method() != "forkserver":
            return False
        self._server_started = _ensure_fork_server()
        return self._server_started

    @property
    def started(self) -> bool:
        """Whether the workers (or the fork server they come from) have been started."""
        return self._pool is not None or self._server_started

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = self._context
            # workers inherit SIGINT ignored from their first instant
            with _sigint_ignored(), self._spawning():
                pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=ctx,
                    initializer=_init_worker,
                    initargs=(os.getpid(),),
                )
                for _ in range(self.workers):  # spawns every worker now, in this thread
                    pool.submit(os.getpid)
            self._pool = pool
            self._finalizer = weakref.finalize(self, _stop_pool, pool)
        return self._pool

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from budgetplan.planner.job_transport import pack, run_unpacked

        if len(jobs) <= 1 or self.workers == 1:
            for i, job in enumerate(jobs):
                yield i, run_unpacked(fn, job)
            return
        pool = self._start()
        with self._spawning():  # a submit may spawn a worker the pool did not start yet
            pending: dict[Future[Any], int] = {
                pool.submit(run_unpacked, fn, pack(job)): i for i, job in enumerate(jobs)
            }
        try:
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()
        except BrokenProcessPool as exc:
            self.close()
            raise BudgetplanError(
                "a simulation worker process died (killed, or out of memory); the runs it "
                "finished are cached: run the command again to resume, or use --executor local"
            ) from exc
        finally:
            if pending:  # left early (Ctrl-C, an error, the caller stopped): stop the workers
                self.close()

    def _spawning(self) -> contextlib.AbstractContextManager[None]:
        return main_hidden() if self.hide_main else contextlib.nullcontext()

    def close(self) -> None:
        """Stop the workers (running jobs included); the next round starts new ones."""
        if self._finalizer is not None:
            self._finalizer()
        self._pool = None
        self._finalizer = None


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while the block spawns processes (main thread only; elsewhere a no-op)."""
    try:
        before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread (e.g. the app's script thread)
        yield
        return
    try:
        yield
    finally:
        if before is not None:
            signal.signal(signal.SIGINT, before)


def _init_worker(driver: int) -> None:
    """Worker initializer: Ctrl-C is the driver's to handle (no traceback from a worker), and
    the worker exits when the driver is gone, however it ended (a SIGKILL, the out-of-memory
    killer), instead of finishing its job for nobody and then waiting forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.name == "posix":  # on Windows os.kill(pid, 0) would send the driver a Ctrl-C event
        threading.Thread(target=_exit_with, args=(driver,), daemon=True).start()


def _exit_with(driver: int) -> None:
    """Block until process ``driver`` ends (a pidfd, where Linux has them; else a check every
    second), then end this process."""
    try:
        fd = os.pidfd_open(driver)
    except (AttributeError, OSError):  # no pidfd (macOS, older kernels): poll
        while process_alive(driver):
            time.sleep(1.0)
    else:
        select.select([fd], [], [])  # readable once the process has ended
    os._exit(1)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    processes = list(getattr(pool, "_processes", {}).values())  # running jobs are not waited for
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=5)
    # let the pool's manager thread finish closing its wake-up pipe now: at interpreter exit
    # concurrent.futures writes to that pipe, and a close racing with that write printed an
    # "Exception ignored ... Bad file descriptor" traceback after Ctrl-C's one line (CPython
    # 3.11's _python_exit does not take the pool's lock)
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None and manager is not threading.current_thread():
        manager.join(timeout=10)


def make_executor(
    kind: str = "local",
    workers: int = 2,
    *,
    ray_address: str | None = None,
    device: str = "auto",
    task_cpus: float = 1.0,
    task_gpus: float = 1.0,
) -> Executor:
    """``"local"``, ``"process"`` (``workers`` processes) or ``"ray"`` (imports Ray only then);
    ``"auto"`` is ``process`` over this machine's cores (``__main__`` hidden) when it has more
    than one, else local (``executor_for`` also looks at the problem's size).

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
    if kind == "auto":
        cores = os.cpu_count() or 1
        return ProcessExecutor(cores, hide_main=True) if cores > 1 else LocalExecutor()
    raise BudgetplanError(f"executor {kind!r} is not one of {', '.join(EXECUTORS)}")


def start_worker_server(sim: SimulationConfig, device: str = "auto") -> bool:
    """Start the fork server the workers of ``sim``'s executor will come from, so that it
    imports torch and numba now, in the background (~2.5 s of one core), while the caller
    does single-threaded work that must come first anyway (building the embedded demo). True if
    started; nothing happens where the executor would not be worker processes here (``local``,
    Ray, one core, a GPU) or the platform has no fork server."""
    if sim.executor not in ("auto", "process"):  # Ray and local start no workers here
        return False
    executor = executor_for(sim, device)
    return isinstance(executor, ProcessExecutor) and executor.start_server()


def _ensure_fork_server() -> bool:
    """Start the fork server unless it runs; False if it cannot start (an OSError). It is
    started with SIGINT ignored, which the workers it forks inherit (Ctrl-C is the driver's to
    handle), and imports nothing of the caller's script (its preload is
    :data:`WORKER_IMPORTS` alone)."""
    from multiprocessing import forkserver

    try:
        with _sigint_ignored(), main_hidden():
            forkserver.ensure_running()
    except OSError:
        return False
    return True


def _on_gpu(device: str) -> bool:
    from budgetplan.device import device_type

    return device_type(device) != "cpu"


def executor_for(
    sim: SimulationConfig,
    device: str = "auto",
    threads: int = 1,
    *,
    train_rows: int | None = None,
    job_fn: Callable[..., Any] | None = None,
) -> Executor:
    """The executor a recipe's ``simulation`` section asks for (a task uses ``threads`` CPUs).

    ``auto`` with fewer than :data:`AUTO_MIN_ROWS` ``train_rows``, on a GPU (where one process
    keeps the device busy), on one core, or for a ``job_fn`` defined in ``__main__`` (which
    workers spawned with ``__main__`` hidden cannot import) is local; otherwise ``sim.workers``
    processes (at most the cores), spawned with ``__main__`` hidden."""
    kind = sim.executor
    if kind == "auto":
        cores = os.cpu_count() or 1
        small = train_rows is not None and train_rows < AUTO_MIN_ROWS
        in_main = getattr(job_fn, "__module__", None) == "__main__"
        if small or cores < 2 or in_main or _on_gpu(device):
            return LocalExecutor()
        return ProcessExecutor(min(sim.workers, cores), hide_main=True)
    if kind == "process":  # hidden too, unless the job function lives in __main__
        in_main = getattr(job_fn, "__module__", None) == "__main__"
        return ProcessExecutor(sim.workers, hide_main=not in_main)
    return make_executor(
        kind,
        sim.workers,
        ray_address=sim.ray_address,
        device=device,
        task_cpus=max(1, int(threads)),
        task_gpus=sim.ray_gpus,
    )
