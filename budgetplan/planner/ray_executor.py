"""Run the executor's jobs as Ray tasks, on a local Ray or on an existing cluster.

Imported only when ``--executor ray`` is asked for (``make_executor``), so Ray is never loaded
otherwise. Used the way Ray users expect:

- ``address=None`` starts a local Ray with this machine's cores; ``"auto"`` or ``"host:port"``
  (or ``"ray://host:10001"``) joins an existing cluster. A Ray the caller has already started
  (``ray.init`` in a notebook or a test) is used as it is.
- :meth:`RayExecutor.share` puts the arrays every job reads (the training pool, validation and
  test splits) into the object store ONCE; jobs carry only the references, which each task
  resolves in its worker (:func:`_run_task`) instead of receiving a pickled copy per job. A
  job's own label matrix travels as int8 codes (``planner.job_transport.pack``: a quarter of
  the float32 bytes), given back to the job function as the same floats.
- Every task asks for ``num_cpus`` and, on a GPU device, ``num_gpus`` (a fraction packs several
  tasks on one GPU). Results are yielded as tasks finish (``ray.wait``), so the caller can write
  each to its cache at once: a killed driver resumes from the cache. ``max_retries``: a task
  whose worker process dies is run again; training is deterministic per seed, so the retried
  result is the same.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from budgetplan.errors import BudgetplanError

INSTALL_HINT = 'pip install -e ".[ray]"'
DEVICES = ("auto", "cpu", "cuda")


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error with the install command."""
    try:
        import ray
    except ImportError:
        raise BudgetplanError(
            f"--executor ray needs Ray, which is not installed; install it with: {INSTALL_HINT}"
        ) from None
    return ray


class RayExecutor:
    """Jobs as Ray tasks; ``map`` yields ``(index, result)`` as tasks finish.

    ``address``: None (start a local Ray with this machine's cores), ``"auto"`` or an address of
    an existing cluster. ``num_cpus``: CPUs each task asks for (the trainer's torch threads).
    ``num_gpus``: the GPU share each task asks for when ``device`` is ``cuda`` (or ``auto`` and
    the cluster has GPUs); 0.25 packs four tasks on a GPU. ``max_retries``: reruns of a task
    whose worker died.
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        num_cpus: float = 1.0,
        num_gpus: float = 1.0,
        device: str = "auto",
        max_retries: int = 3,
    ) -> None:
        if not (isinstance(num_cpus, int | float) and num_cpus > 0):
            raise BudgetplanError(f"Ray tasks need num_cpus > 0, got {num_cpus!r}")
        if not (isinstance(num_gpus, int | float) and num_gpus > 0):
            raise BudgetplanError(f"ray GPU share per task must be > 0, got {num_gpus!r}")
        if device not in DEVICES:
            raise BudgetplanError(f"device {device!r} is not one of {', '.join(DEVICES)}")
        self.ray = import_ray()
        self.address = address or None
        self.num_cpus = float(num_cpus)
        self.gpu_share = float(num_gpus)
        self.device = device
        self.max_retries = int(max_retries)

    # ------------------------------------------------------------------ cluster
    def connect(self) -> Any:
        """Start or join Ray once (a Ray already initialised in this process is reused)."""
        ray = self.ray
        if not ray.is_initialized():
            try:
                local = {} if self.address else {"_node_ip_address": "127.0.0.1"}
                ray.init(
                    address=self.address,
                    num_cpus=None if self.address else os.cpu_count(),
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    **local,  # a Ray of our own listens on loopback only
                )
            except (OSError, RuntimeError, ValueError) as exc:
                where = self.address or "a local Ray"
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise BudgetplanError(f"could not start or join {where}: {first}") from None
        return ray

    @property
    def num_gpus(self) -> float:
        """The GPU share each task asks for: 0 on CPU, ``gpu_share`` on GPUs."""
        if self.device == "cpu":
            return 0.0
        if self.device == "cuda":
            return self.gpu_share
        return self.gpu_share if self.connect().cluster_resources().get("GPU", 0) > 0 else 0.0

    @property
    def parallelism(self) -> int:
        """How many tasks the cluster runs at once (CPUs / num_cpus, GPUs / num_gpus)."""
        res = self.connect().cluster_resources()
        slots = res.get("CPU", 1.0) / self.num_cpus
        gpus = self.num_gpus
        if gpus > 0:
            slots = min(slots, res.get("GPU", 0.0) / gpus)
        return max(1, int(slots))

    # ------------------------------------------------------------------ jobs
    def share(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Put each value (None stays None) in the object store once; jobs carry the refs."""
        ray = self.connect()
        return {k: None if v is None else ray.put(v) for k, v in values.items()}

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Submit every job, then yield ``(index, result)`` in the order the tasks finish."""
        ray = self.connect()
        task = ray.remote(_run_task).options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=self.max_retries
        )
        from budgetplan.planner.job_transport import pack

        refs = {task.remote(fn, pack(job)): i for i, job in enumerate(jobs)}
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    yield refs.pop(ref), ray.get(ref)
        finally:  # an error or Ctrl-C in the caller: do not leave tasks running on the cluster
            for ref in refs:
                ray.cancel(ref, force=True)


def _run_task(fn: Callable[[Any], Any], job: Any) -> Any:
    """In the worker: replace the job's object refs (from ``share``) by their values and its
    int8 labels by floats (``job_transport.pack``), run ``fn``."""
    import ray

    from budgetplan.planner.job_transport import unpack

    if dataclasses.is_dataclass(job) and not isinstance(job, type):
        refs = {
            f.name: getattr(job, f.name)
            for f in dataclasses.fields(job)
            if isinstance(getattr(job, f.name), ray.ObjectRef)
        }
        if refs:
            values = ray.get(list(refs.values()))
            job = dataclasses.replace(job, **dict(zip(refs, values, strict=True)))
    with warnings.catch_warnings():
        # arrays from the object store are read-only views; the trainer copies what it writes
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return fn(unpack(job))


__all__ = ["INSTALL_HINT", "RayExecutor", "import_ray"]
