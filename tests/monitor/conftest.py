"""The tiny untrained CNN of tests/conftest.py and its templates (CPU, seconds), shared by the monitor tests."""

import pytest


@pytest.fixture(scope="session")
def model_and_templates(copy_tiny_cnn, tmp_path_factory):
    from kamcore.cli import main

    d = tmp_path_factory.mktemp("monitor")
    m = copy_tiny_cnn(d)
    assert main(["runs", "templates", "--model", str(m), "--out", str(d / "t.json"), "--events", "30",
                 "--bins", "6"]) == 0
    return m, d / "t.json"


@pytest.fixture(scope="session")
def simulated_run_files(tmp_path_factory):
    """``make(runs=, events_per_run=, seed=)``: a new directory of ``kamcore runs simulate`` run files."""
    from kamcore.cli import main

    def make(*, runs: int, events_per_run: int, seed: int):
        d = tmp_path_factory.mktemp(f"runs_{runs}x{events_per_run}_seed{seed}")
        assert main(["runs", "simulate", "--runs", str(runs), "--events-per-run", str(events_per_run),
                     "--seed", str(seed), "--out", str(d), "--no-progress"]) == 0
        return d
    return make
