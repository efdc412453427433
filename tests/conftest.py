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
