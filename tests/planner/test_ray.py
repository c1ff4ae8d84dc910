"""``--executor ray``: same answers as local, a killed driver resumes, a killed worker is retried.

One local Ray of 2 CPUs is started for the module (``ray_cluster``) and shut down after it; the
driver-kill test runs ``budgetplan simulate`` in a subprocess that joins this Ray by its address,
kills it, and resumes with a new driver in this process. Without Ray installed only the
install-hint test runs (CI installs the ``ray`` extra).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from budgetplan.cli import main
from budgetplan.config import SimulationConfig, load_recipe
from budgetplan.methods.train_config import TrainConfig
from budgetplan.planner.assembly import Action, base_state
from budgetplan.planner.cache import RunCache
from budgetplan.planner.executor import LocalExecutor, make_executor
from budgetplan.planner.problem import prepare_problem
from budgetplan.planner.runner import Runner, RunSpec

from .test_kill_resume import CLI, RECIPE, TIMEOUT, _counts, _runs, kill_after_first_run

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray with 2 CPUs for this module; yields its address (for other drivers)."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        _node_ip_address="127.0.0.1",  # loopback only
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _small_digits():
    """The digits recipe with small settings (as the planner tests use): seconds, not minutes."""
    return load_recipe("digits").with_overrides(
        simulation={"initial_seeds": 2, "max_seeds": 2, "max_candidates": 2, "confirm_seeds": None},
        selection={"max_classes": 2, "greedy_width": 1, "random_draws": 1},
        train={"max_epochs": 4, "patience": 4, "hidden": 32},
    )


def _plan_content(rec) -> dict:
    plan = json.loads(rec.plan.to_json())
    return {k: v for k, v in plan.items() if k not in ("provenance", "plan_id")}


def test_digits_recipe_gives_the_same_gains_and_plan_on_ray(ray_cluster, tmp_path) -> None:
    from budgetplan.planner.ray_executor import RayExecutor
    from budgetplan.planner.recommend import recommend

    cfg = _small_digits()
    local = recommend(cfg, cache=RunCache(tmp_path / "local"))
    on_ray = dataclasses.replace(
        cfg, simulation=dataclasses.replace(cfg.simulation, executor="ray")
    )
    seen: list[tuple[int, int]] = []

    def count(done: int, total: int, message: str) -> None:
        if not message.startswith("set-up"):  # the set-up stages have their own bar
            seen.append((done, total))

    remote = recommend(on_ray, cache=RunCache(tmp_path / "ray"), progress=count)
    assert remote.runs_trained == local.runs_trained > 0
    assert remote.runs_cached == 0
    # training is deterministic per seed, wherever it runs: every number is equal, not close
    assert {"class", "gain", "gain_ci_low", "gain_ci_high", "p_value"} <= set(local.table.columns)
    pd.testing.assert_frame_equal(local.table, remote.table)
    assert _plan_content(remote) == _plan_content(local)
    # progress: each round's bar starts at 0 and counts finished runs as jobs arrive
    assert seen and seen[0][0] == 0 and all(0 <= d <= t for d, t in seen)
    assert any(d == t for d, t in seen)
    assert isinstance(make_executor("ray"), RayExecutor)


def test_killed_driver_resumes_from_the_cache(ray_cluster, tmp_path, monkeypatch, capsys) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        RECIPE.replace("  max_replicas: 1\n", "  max_replicas: 1\n  max_candidates: 3\n")
    )
    env = {**os.environ, "BUDGETPLAN_CACHE": str(tmp_path / "cache")}
    runs_dir = tmp_path / "cache" / "runs"
    cmd = [sys.executable, "-c", CLI, "simulate", "--recipe", str(recipe)]
    cmd += ["--executor", "ray", "--ray-address", ray_cluster]

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill_after_first_run(proc, runs_dir)
    kept = _runs(runs_dir)
    mtimes = {f: f.stat().st_mtime_ns for f in kept}

    # a new driver (this process, joining the same Ray) resumes from the cache
    monkeypatch.setenv("BUDGETPLAN_CACHE", str(tmp_path / "cache"))
    assert main(cmd[3:]) == 0
    trained, cached = _counts(capsys.readouterr().out)
    assert cached == len(kept) >= 1  # the runs written before the kill are reused ...
    assert {f: f.stat().st_mtime_ns for f in kept} == mtimes  # ... not retrained
    assert len(kept) < trained + cached == len(_runs(runs_dir))  # killed mid-run, then completed


def test_killed_worker_is_retried_with_the_same_result(ray_cluster, toy_data, tmp_path) -> None:
    from budgetplan.planner.ray_executor import RayExecutor

    p = prepare_problem(toy_data.labels, toy_data.vectors, "T", SimulationConfig(dim=None))
    base, _ = base_state(p.train_table, "T")
    specs = [
        RunSpec(a, s) for a in (base, base.plus(Action("good", tuple(p.train_ids)))) for s in (0, 1)
    ]
    train = TrainConfig(method="ne", max_epochs=3, hidden=16)
    expected = Runner(p, train, cache=RunCache(tmp_path / "a"), executor=LocalExecutor()).run(specs)

    claim = tmp_path / "victim.pid"

    def first_attempt_dies(job):  # pickled by value into the workers (a closure)
        import os
        import time

        from budgetplan.planner.runner import execute_job

        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:  # a later attempt (or another job): train
            return execute_job(job)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        time.sleep(30)  # the test kills this worker process here
        return execute_job(job)

    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            text = claim.read_text() if claim.exists() else ""
            if text:
                os.kill(int(text), signal.SIGKILL)
                killed.append(int(text))
                return
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    t0 = time.monotonic()
    runner = Runner(
        p,
        train,
        cache=RunCache(tmp_path / "b"),
        executor=RayExecutor(num_cpus=1),
        job_fn=first_attempt_dies,
    )
    got = runner.run(specs)
    thread.join(timeout=5)
    assert killed and killed[0] != os.getpid()  # a worker process really died mid-task
    assert time.monotonic() - t0 < 180  # its task was retried, not waited out
    assert [(r.auc, r.ap, r.best_epoch) for r in got] == [
        (r.auc, r.ap, r.best_epoch) for r in expected
    ]


def test_ray_missing_gives_the_install_hint(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code = main(["simulate", "--recipe", "digits", "--quick", "--executor", "ray"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and 'pip install -e ".[ray]"' in err
    from budgetplan.errors import BudgetplanError

    with pytest.raises(BudgetplanError, match=r"pip install -e \"\.\[ray\]\""):
        make_executor("ray")
    assert isinstance(make_executor("local"), LocalExecutor)  # the default never needs Ray
