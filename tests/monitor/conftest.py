"""A tiny untrained CNN and its templates (CPU, seconds), shared by the monitor tests."""

import pytest


@pytest.fixture(scope="session")
def model_and_templates(tmp_path_factory):
    import torch

    from kamcore.cli import main
    from kamcore.nn.cnn import CNNConfig, ConventionalCNN
    from kamcore.train import save_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("monitor")
    # the cpu preset made small: run files give real 28x38x38 maps (as tests/cli/test_runs_cli.py)
    save_model(d / "m", ConventionalCNN(CNNConfig.from_preset("cpu", channels=[2, 2], hidden=[4])), "cnn",
               preset="custom")
    assert main(["runs", "templates", "--model", str(d / "m"), "--out", str(d / "t.json"), "--events", "30",
                 "--bins", "6"]) == 0
    return d / "m", d / "t.json"
