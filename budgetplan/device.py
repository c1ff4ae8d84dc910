"""Choose the torch device: CUDA when present, CPU otherwise.

:func:`device_type` answers "which kind of device would ``auto`` use?" without importing torch
(~3 s) on a Linux machine with no GPU device node at all: the planner asks it before deciding on
worker processes, and a warm ``recommend`` (every run cached) then never imports torch.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from budgetplan.errors import BudgetplanError

if TYPE_CHECKING:
    import torch

# The device nodes a GPU that torch can use shows on Linux: NVIDIA, AMD ROCm, WSL2.
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def no_gpu_here() -> bool:
    """True on a Linux machine without any of :data:`GPU_DEVICE_NODES` (torch sees no GPU there);
    False when there may be one (then only torch can tell)."""
    return sys.platform.startswith("linux") and not any(os.path.exists(p) for p in GPU_DEVICE_NODES)


def device_type(device: str = "auto") -> str:
    """``resolve_device(device).type``, without importing torch where the answer is surely
    ``"cpu"`` (``device`` is ``cpu``, or ``auto`` and :func:`no_gpu_here`)."""
    if device == "cpu" or (device == "auto" and no_gpu_here()):
        return "cpu"
    return resolve_device(device).type


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA if torch sees a GPU, else CPU; ``"cuda"`` without a GPU is an error."""
    import torch

    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BudgetplanError(
            f"--device {device}: torch sees no CUDA GPU on this machine; use cpu or auto"
        )
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise BudgetplanError(f"--device {device!r}: {exc}") from None
