"""How a training job reaches the worker processes: each job pickled whole vs the shared arrays
once and the labels as int8 (``budgetplan.planner.job_transport``).

    nice python bench/transport.py [--jobs 8] [--replicas 8] [--rows 78484] [--repeats 3]

Jobs of the embedded default's sizes (78,484 training rows x 64, validation 11,212 and test
22,424 rows, 15 classes, 8 replicas a job, ~8 % of the label entries known) go to two spawned
worker processes that only read them (a job function that sums its arrays), so what is timed is
the transport: pickling in the driver, the pipe, unpickling in the worker.

- ``whole``: a plain ``ProcessPoolExecutor`` (spawn), every job pickled with its arrays and its
  float32 labels (the transport before);
- ``shared``: ``ProcessExecutor`` with ``share`` (the arrays written once to files each worker
  maps) and ``pack`` (int8 labels), as ``budgetplan recommend`` runs it now.

Both pools are started and warmed before timing; the two alternate ``--repeats`` times (medians
and the per-pair ratio printed). Also printed: the bytes a pickled job takes, each way.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.reduction import ForkingPickler

import numpy as np

from budgetplan.methods.train_config import TrainConfig
from budgetplan.planner.executor import ProcessExecutor
from budgetplan.planner.job_transport import pack
from budgetplan.planner.runner import TrainJob


def make_jobs(n_jobs: int, replicas: int, rows: int, classes: int = 15) -> list[TrainJob]:
    """Jobs of the default's sizes; labels 1 / 0 on ~8 % of the entries, NaN elsewhere."""
    rng = np.random.default_rng(0)
    shared = {
        "x_train": rng.normal(size=(rows, 64)).astype(np.float32),
        "x_val": rng.normal(size=(rows // 7, 64)).astype(np.float32),
        "y_val": (rng.random((rows // 7, classes)) < 0.1).astype(np.float32),
        "x_test": rng.normal(size=(2 * rows // 7, 64)).astype(np.float32),
        "y_test": (rng.random(2 * rows // 7) < 0.05).astype(np.float32),
        "soft_exposure": None,
    }
    jobs = []
    for j in range(n_jobs):
        y = (rng.random((replicas, rows, classes)) < 0.1).astype(np.float32)
        y[rng.random(y.shape) > 0.08] = np.nan
        jobs.append(
            TrainJob(
                y_train=y,
                target_index=0,
                config=TrainConfig(),
                seeds=tuple(range(j, j + replicas)),
                **shared,
            )
        )
    return jobs


def read_job(job: TrainJob) -> float:
    """The worker's side: touch every array the job carries."""
    return float(np.nansum(job.y_train) + job.x_train.sum() + job.x_val.sum() + job.x_test.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--rows", type=int, default=78_484)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    jobs = make_jobs(args.jobs, args.replicas, args.rows)
    whole_pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    shared_pool = ProcessExecutor(2)
    fields = ("x_train", "x_val", "y_val", "x_test", "y_test", "soft_exposure")
    handles = shared_pool.share({k: getattr(jobs[0], k) for k in fields})
    shared_jobs = [dataclasses.replace(j, **handles) for j in jobs]
    whole_bytes = len(ForkingPickler.dumps(jobs[0]))
    shared_bytes = len(ForkingPickler.dumps(pack(shared_jobs[0])))
    print(f"a job pickled: whole {whole_bytes / 1e6:.1f} MB, shared {shared_bytes / 1e6:.1f} MB")

    def whole() -> list[float]:
        return list(whole_pool.map(read_job, jobs))

    def shared() -> list[float]:
        return [r for _, r in sorted(shared_pool.map(read_job, shared_jobs))]

    assert whole() == shared()  # warm both pools; the worker sees the same values
    times: dict[str, list[float]] = {"whole": [], "shared": []}
    for _ in range(args.repeats):
        for name, fn in (("whole", whole), ("shared", shared)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ratios = [s / w for s, w in zip(times["shared"], times["whole"], strict=True)]
    for name, ts in times.items():
        print(f"{name}: {args.jobs} jobs in {statistics.median(ts):.2f} s (median of {len(ts)})")
    print(f"shared / whole: {statistics.median(ratios):.2f} (median per-pair ratio)")
    whole_pool.shutdown()
    shared_pool.close()


if __name__ == "__main__":
    main()
