"""Device choice: ``auto`` is the CPU without importing torch where no GPU can be, and what
torch says elsewhere."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from budgetplan import device
from budgetplan.errors import BudgetplanError


def test_without_gpu_device_nodes_auto_is_the_cpu(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(device, "GPU_DEVICE_NODES", (str(tmp_path / "nvidia0"),))
    monkeypatch.setattr(device.sys, "platform", "linux")
    monkeypatch.setattr(device, "resolve_device", lambda d: pytest.fail("torch was asked"))
    assert device.no_gpu_here()
    assert device.device_type("auto") == "cpu"
    assert device.device_type("cpu") == "cpu"


def test_with_a_gpu_device_node_torch_decides(monkeypatch, tmp_path) -> None:
    node = tmp_path / "nvidia0"
    node.touch()
    monkeypatch.setattr(device, "GPU_DEVICE_NODES", (str(node),))
    assert not device.no_gpu_here()
    monkeypatch.setattr(device, "resolve_device", lambda d: torch.device("cuda"))
    assert device.device_type("auto") == "cuda"


def test_elsewhere_than_linux_torch_decides(monkeypatch) -> None:
    monkeypatch.setattr(device.sys, "platform", "win32")
    assert not device.no_gpu_here()
    assert device.device_type("auto") == device.resolve_device("auto").type


def test_cuda_without_a_gpu_is_one_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BudgetplanError, match="--device cuda: torch sees no CUDA GPU"):
        device.device_type("cuda")


def test_choosing_the_executor_imports_torch_only_where_a_gpu_may_be() -> None:
    code = (
        "import sys\n"
        "from budgetplan.config import SimulationConfig\n"
        "from budgetplan.device import no_gpu_here\n"
        "from budgetplan.planner.executor import executor_for\n"
        "ex = executor_for(SimulationConfig(), 'auto', train_rows=10**6)\n"
        "print(no_gpu_here(), 'torch' in sys.modules, type(ex).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    no_gpu, imported = out[0] == "True", out[1] == "True"
    assert imported != no_gpu  # no GPU node: no torch import (~3 s of a warm recommend)
