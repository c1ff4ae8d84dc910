"""Choose the torch device: CUDA when present, CPU otherwise."""

from __future__ import annotations

import torch

from budgetplan.errors import BudgetplanError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA if torch sees a GPU, else CPU; ``"cuda"`` without a GPU is an error."""
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
