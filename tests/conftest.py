"""Shared test set-up: a private cache dir, few threads, no network."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never touch the user's cache: budgetplan reads BUDGETPLAN_CACHE first."""
    os.environ["BUDGETPLAN_CACHE"] = str(tmp_path_factory.mktemp("budgetplan-cache"))
    os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads() -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(min(2, os.cpu_count() or 1))
