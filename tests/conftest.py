"""Shared fixtures: the shipped PMT table, small seeded synthetic events, a tiny untrained CNN checkpoint."""

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


@pytest.fixture(scope="session")
def tiny_cnn(tmp_path_factory):
    """Checkpoint path ``.../m`` (``m.safetensors`` + ``m.json``) of a tiny untrained CNN, seed 0.

    The tiny presets take 4x8x8 maps; run files give real 28x38x38 maps, so: the cpu preset made small
    (channels [2, 2], hidden [4]), CPU milliseconds per event.  Copy it with :func:`copy_tiny_cnn`.
    """
    import torch

    from kamcore.nn.cnn import CNNConfig, ConventionalCNN
    from kamcore.train import save_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("tiny_cnn")
    save_model(d / "m", ConventionalCNN(CNNConfig.from_preset("cpu", channels=[2, 2], hidden=[4])), "cnn",
               preset="custom")
    return d / "m"


@pytest.fixture(scope="session")
def copy_tiny_cnn(tiny_cnn):
    """``copy_tiny_cnn(dest_dir)`` copies the :func:`tiny_cnn` checkpoint into ``dest_dir``; returns ``dest_dir/m``."""
    import shutil
    from pathlib import Path

    def copy(dest_dir):
        for suffix in (".safetensors", ".json"):
            shutil.copy(tiny_cnn.with_suffix(suffix), Path(dest_dir) / ("m" + suffix))
        return Path(dest_dir) / "m"
    return copy


@pytest.fixture
def postgres_url():
    """SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped afterwards.

    The server comes from ``$KAMDASH_TEST_POSTGRES_URL`` (``.ci/run`` starts one on 127.0.0.1); the test is
    skipped when the variable is unset.  Its role needs CREATEDB.
    """
    import os
    import uuid

    url = os.environ.get("KAMDASH_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: KAMDASH_TEST_POSTGRES_URL is unset (.ci/run starts one on 127.0.0.1)")
    psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL driver psycopg is not installed")
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = u.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"kamdash_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    yield u.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
