"""Executors: ``auto`` picks worker processes only where they pay and are safe, the pool is kept
across rounds, a dead worker is one clear error, and results never depend on the executor."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from budgetplan.config import SimulationConfig
from budgetplan.errors import BudgetplanError
from budgetplan.methods.train_config import TrainConfig
from budgetplan.planner import executor as ex
from budgetplan.planner.assembly import Action, base_state
from budgetplan.planner.cache import RunCache
from budgetplan.planner.problem import prepare_problem
from budgetplan.planner.runner import Runner, RunSpec, execute_job


def test_auto_is_local_for_small_problems_one_core_and_main_job_functions(monkeypatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    sim = SimulationConfig(executor="auto", workers=2)
    big = ex.AUTO_MIN_ROWS
    assert isinstance(ex.executor_for(sim, "cpu", train_rows=big - 1), ex.LocalExecutor)
    chosen = ex.executor_for(sim, "cpu", train_rows=big, job_fn=_pid)
    assert isinstance(chosen, ex.ProcessExecutor) and chosen.workers == 2 and chosen.hide_main

    def in_main(job: object) -> int:
        return 0

    in_main.__module__ = "__main__"  # as a function of the caller's script would be
    assert isinstance(ex.executor_for(sim, "cpu", train_rows=big, job_fn=in_main), ex.LocalExecutor)
    explicit = ex.executor_for(SimulationConfig(executor="process"), "cpu", job_fn=in_main)
    assert isinstance(explicit, ex.ProcessExecutor) and not explicit.hide_main
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert isinstance(ex.executor_for(sim, "cpu", train_rows=big), ex.LocalExecutor)


SCRIPT_WITHOUT_MAIN_GUARD = """
import os, sys
from budgetplan.config import SimulationConfig
from budgetplan.planner import executor as ex
with open(sys.argv[1], "a") as fh:  # top-level code: a worker that re-imported us would add a line
    fh.write(f"{os.getpid()}\\n")
chosen = ex.executor_for(SimulationConfig(executor="auto", workers=2), "cpu", train_rows=10**6)
pids = {pid for _, pid in chosen.map(os.readlink, ["/proc/self"] * 8)}
chosen.close()
print(type(chosen).__name__, len(pids - {str(os.getpid())}))
"""


def test_auto_workers_never_run_the_callers_script_again(tmp_path) -> None:
    """A script without a main guard (or a Streamlit app, whose script is ``__main__`` while it
    runs) gets worker processes from ``auto``, and its top-level code runs once."""
    import subprocess
    import sys

    script, marker = tmp_path / "plan.py", tmp_path / "ran.txt"
    script.write_text(SCRIPT_WITHOUT_MAIN_GUARD)
    env = {**os.environ, "PYTHONPATH": str(Path(ex.__file__).resolve().parents[2])}
    out = subprocess.run(
        [sys.executable, str(script), str(marker)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    ).stdout.split()
    if (os.cpu_count() or 1) > 1:
        assert out[0] == "ProcessExecutor" and int(out[1]) >= 1  # the jobs ran in workers
    assert len(marker.read_text().splitlines()) == 1


def _pid(_: object) -> int:
    return os.getpid()


def test_the_pool_is_kept_across_rounds_and_closed() -> None:
    pool = ex.ProcessExecutor(2)
    first = {pid for _, pid in pool.map(_pid, range(6))}
    second = {pid for _, pid in pool.map(_pid, range(6))}
    assert os.getpid() not in first and second <= first  # same workers, no new spawn
    assert [pid for _, pid in pool.map(_pid, [0])] == [os.getpid()]  # one job: no hop
    pool.close()
    assert all(not _alive(pid) for pid in first)


def _imported(_: object) -> tuple[bool, bool]:
    import sys

    return "torch" in sys.modules, "numba" in sys.modules


FORKSERVER = pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="no fork server here"
)


@FORKSERVER
def test_workers_begin_their_first_job_with_torch_and_numba_imported() -> None:
    """Workers are forked from a server that imported torch and numba once, so no worker pays
    those imports at its first job (this module itself imports neither)."""
    pool = ex.ProcessExecutor(2)
    pool.start()
    assert pool.started and pool._pool is None  # the workers themselves come at the first round
    assert {imported for _, imported in pool.map(_imported, range(4))} == {(True, True)}
    pool.close()


SCRIPT_IN_ANOTHER_FOLDER = """
import os
from budgetplan.config import SimulationConfig
from budgetplan.planner import executor as ex
pool = ex.executor_for(SimulationConfig(executor="auto", workers=2), "cpu", train_rows=10**6)
pool.start()
print(sorted({path for _, path in pool.map(os.path.realpath, [ex.__file__] * 4)}))
pool.close()
"""


@FORKSERVER
def test_workers_run_the_drivers_code_whatever_the_working_directory_holds(tmp_path) -> None:
    """Run from a folder holding another ``budgetplan`` (a checkout of another version), the
    workers still run the driver's code: nothing of that folder is imported anywhere."""
    import subprocess
    import sys

    other = tmp_path / "budgetplan"
    other.mkdir()
    marker = tmp_path / "imported.txt"
    (other / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    script = tmp_path / "elsewhere" / "plan.py"
    script.parent.mkdir()
    script.write_text(SCRIPT_IN_ANOTHER_FOLDER)
    real = Path(ex.__file__).resolve()
    env = {**os.environ, "PYTHONPATH": str(real.parents[2])}
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    ).stdout
    assert not marker.exists()
    assert out.strip() == str([str(real)])


def test_the_worker_server_starts_early_only_where_workers_will_run(monkeypatch) -> None:
    """``start_worker_server`` (called while the demo is built) starts the fork server only for
    an executor that will be worker processes here."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert not ex.start_worker_server(SimulationConfig(executor="local"), "cpu")
    assert not ex.start_worker_server(SimulationConfig(executor="ray"), "cpu")
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert not ex.start_worker_server(SimulationConfig(executor="auto"), "cpu")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    forks = "forkserver" in multiprocessing.get_all_start_methods()
    assert ex.start_worker_server(SimulationConfig(executor="auto"), "cpu") == forks


def test_a_fork_server_that_cannot_start_only_delays_the_workers(monkeypatch) -> None:
    """Starting early is an optimisation: an OSError there (no socket, no process) is not the
    run's error; the workers start at the first round as usual."""
    from multiprocessing import forkserver

    def fail() -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(forkserver, "ensure_running", fail)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert not ex.start_worker_server(SimulationConfig(executor="auto"), "cpu")
    pool = ex.ProcessExecutor(2)
    pool.start()
    monkeypatch.undo()
    assert dict(pool.map(abs, [-1, -2])) == {0: 1, 1: 2}
    pool.close()


def test_only_a_demo_not_yet_built_counts_as_a_build(monkeypatch, tmp_path) -> None:
    from budgetplan.config import DataConfig
    from budgetplan.planner.sources import builds_the_demo

    monkeypatch.setenv("BUDGETPLAN_CACHE", str(tmp_path))
    assert builds_the_demo(DataConfig())
    assert not builds_the_demo(DataConfig(kind="digits"))
    from budgetplan.demo import demo_root

    demo_root().mkdir(parents=True)
    assert not builds_the_demo(DataConfig())


def test_loading_data_to_plan_starts_the_worker_server_before_a_demo_build(
    monkeypatch, tmp_path
) -> None:
    """The fork server's imports overlap the demo build: it is started before the build, and
    only when there is one to do."""
    from budgetplan.config import RecommendConfig
    from budgetplan.demo import demo_root
    from budgetplan.planner import sources

    monkeypatch.setenv("BUDGETPLAN_CACHE", str(tmp_path))
    events: list[str] = []
    monkeypatch.setattr(ex, "start_worker_server", lambda sim, device: events.append("server"))
    monkeypatch.setattr(sources, "load_plan_data", lambda cfg, progress: events.append("load"))
    sources.load_data_to_plan(RecommendConfig())
    assert events == ["server", "load"]
    demo_root().mkdir(parents=True)  # built: nothing to overlap
    sources.load_data_to_plan(RecommendConfig())
    assert events == ["server", "load", "load"]


SCRIPT_KILLED_MID_ROUND = """
import os, time
from budgetplan.config import SimulationConfig
from budgetplan.planner import executor as ex
pool = ex.executor_for(SimulationConfig(executor="auto", workers=2), "cpu", train_rows=10**6)
print(" ".join(sorted({pid for _, pid in pool.map(os.readlink, ["/proc/self"] * 8)})), flush=True)
for _ in pool.map(time.sleep, [60, 60]):
    pass
"""


def _ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie has ended; only its parent's wait is missing


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc")
def test_workers_end_when_the_driver_is_killed(tmp_path) -> None:
    """A driver killed outright (SIGKILL, the out-of-memory killer) leaves no worker behind to
    finish its job for nobody and then wait forever with its memory."""
    import subprocess
    import sys
    import time

    script = tmp_path / "plan.py"
    script.write_text(SCRIPT_KILLED_MID_ROUND)
    env = {**os.environ, "PYTHONPATH": str(Path(ex.__file__).resolve().parents[2])}
    driver = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert driver.stdout is not None
        workers = [int(pid) for pid in driver.stdout.readline().split()]
        assert workers and not any(_ended(pid) for pid in workers)
        time.sleep(0.5)  # the 60 s jobs are running
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + 15
        while not all(_ended(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(_ended(pid) for pid in workers)
    finally:
        driver.kill()


def _alive(pid: int) -> bool:
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        import time

        time.sleep(0.1)
    return True


def _die(i: int) -> int:
    if i == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return i


def test_a_dead_worker_is_one_clear_error() -> None:
    pool = ex.ProcessExecutor(2)
    with pytest.raises(BudgetplanError, match="worker process died.*run the command again"):
        list(pool.map(_die, range(4)))
    assert dict(pool.map(abs, [-1, -2])) == {0: 1, 1: 2}  # a new pool on the next round
    pool.close()


def test_results_are_the_same_to_the_bit_under_any_executor(toy_data, tmp_path) -> None:
    """A round is cut into jobs by ``max_replicas`` alone, so local and process agree exactly."""
    p = prepare_problem(
        toy_data.labels, toy_data.vectors, "T", SimulationConfig(pool_images=None, dim=None)
    )
    base, _ = base_state(p.train_table, "T")
    cands = [base.plus(Action(c, tuple(p.train_ids))) for c in ("good", "bad")]
    specs = [RunSpec(a, s) for a in (base, *cands) for s in range(3)]
    train = TrainConfig(method="ne", max_epochs=2)
    runs = {}
    for name, executor in (("local", ex.LocalExecutor()), ("process", ex.ProcessExecutor(2))):
        runner = Runner(
            p,
            train,
            cache=RunCache(tmp_path / name),
            executor=executor,
            max_replicas=4,
            job_fn=execute_job,
        )
        runs[name] = np.array([r.auc for r in runner.run(specs)])
        if isinstance(executor, ex.ProcessExecutor):
            executor.close()
    assert np.array_equal(runs["local"], runs["process"])


def _bad_file(i: int) -> int:
    from budgetplan.errors import InputFileError

    if i == 1:
        raise InputFileError("labels.csv", "row 3: the value 'x' is not 0, 1 or empty")
    return i


def test_a_worker_error_reaches_the_driver_as_itself() -> None:
    """An input error raised in a worker is the same one-line error in the driver (not a
    'worker died'), whatever arguments its class takes."""
    from budgetplan.errors import InputFileError

    pool = ex.ProcessExecutor(2)
    with pytest.raises(InputFileError, match=r"^labels.csv: row 3: the value 'x'") as info:
        list(pool.map(_bad_file, range(4)))
    assert info.value.path == "labels.csv"
    pool.close()
