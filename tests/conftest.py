"""Shared fixtures: the shipped PMT table and small seeded synthetic events."""

from __future__ import annotations

import pytest
from synthetic import random_events

from kamcore.geometry import default_pmt_table


@pytest.fixture(scope="session")
def pmts():
    return default_pmt_table()


@pytest.fixture
def synthetic_events():
    return random_events()


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module: small tensors, and 2 threads are ~10x slower when another process
    holds a core."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
