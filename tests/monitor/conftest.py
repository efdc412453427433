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
