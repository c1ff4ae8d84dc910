"""A planning run pays only for the imports it uses: a warm ``recommend`` (every run cached)
trains nothing, so it must not import torch (~3 s) or scipy.stats (~1.4 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_planning_without_training_imports_neither_torch_nor_scipy_stats() -> None:
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import budgetplan\n"
        "from budgetplan.config import SimulationConfig\n"
        "from budgetplan.device import no_gpu_here\n"
        "from tests.planner.conftest import fake_job, make_data, toy_config\n"
        "sim = SimulationConfig(pool_images=None, val_images=None, dim=None, initial_seeds=2,\n"
        "                       max_seeds=3)\n"
        "rec = budgetplan.recommend(make_data(), toy_config(sim), job_fn=fake_job,\n"
        "                           cache=budgetplan.RunCache(enabled=False))\n"
        "assert rec.plan.total_cost <= rec.plan.budget\n"
        "print(no_gpu_here(), 'torch' in sys.modules, 'scipy.stats' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    no_gpu, torch_imported, stats_imported = (v == "True" for v in out)
    assert not stats_imported
    assert torch_imported != no_gpu  # torch only where a GPU may be there to ask it about
