"""kamcore train / evaluate / score end to end on the tiny presets (CPU, seconds)."""

import json

import numpy as np
import pytest

from kamcore.cli import main
from kamcore.io import read_scores


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("model_cli")
    for name, source, n, seed in (("sig", "Xe136_0vbb", 96, 1), ("bkg", "Bi214", 96, 2)):
        assert main(["simulate", "--source", source, "--events", str(n), "--seed", str(seed), "--no-progress",
                     "--energy-window", "2", "3", "--max-radius", "157", "--out", str(d / f"{name}.parquet")]) == 0
    return d


def test_train_evaluate_score_tiny_cnn(runs, capsys):
    out = runs / "cnn_tiny"
    # the tiny presets take 4 time slices on an 8x8 map; the CLI feeds real 28x38x38 maps, so the
    # smallest usable CNN here is the cpu preset, trained for one epoch
    code = main(["train", "cnn", "--signal", str(runs / "sig.parquet"), "--background", str(runs / "bkg.parquet"),
                 "--out", str(out), "--preset", "cpu", "--epochs", "1", "--batch-size", "16", "--no-progress",
                 "--device", "cpu", "--no-nhit-matching"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    meta = json.loads((runs / "cnn_tiny.json").read_text())
    assert meta["model"] == "cnn" and meta["training"]["signal_sources"] == ["Xe136_0vbb"]
    assert meta["training"]["command"].startswith("kamcore train cnn")
    assert 0.0 <= meta["metrics"]["val_auc"] <= 1.0

    code = main(["score", str(out), str(runs / "bkg.parquet"), "--out", str(runs / "scores.parquet")])
    assert code == 0
    sc = read_scores(runs / "scores.parquet")
    assert len(sc["score"]) == 96 and sc["attention"] is None and np.all((sc["score"] >= 0) & (sc["score"] <= 1))

    res = runs / "results.json"
    code = main(["evaluate", str(out), "--simulate", "24", "--sources", "Xe136_0vbb", "Bi214", "C10",
                 "--out", str(res)])
    text = capsys.readouterr().out
    assert code == 0 and "Bi214" in text and "C10" in text
    r = json.loads(res.read_text())
    rep = r["models"]["cnn_tiny"]
    assert set(rep["sources"]) == {"Bi214", "C10"}
    assert r["command"].startswith("kamcore evaluate")
    rw = rep["sources"]["C10"]["nhit_reweighted"]
    assert 0 <= rw["rejection"] <= 1 and 0 < rw["effective_events"] <= 24 and 0 < rw["signal_nhit_coverage"] <= 1
    assert rep["by_topology"]["multi"]["sources"] == ["Bi214", "C10"] and "single" not in rep["by_topology"]
    assert "mean multi" in text


def test_train_stops_on_its_budget_and_resumes(runs, tmp_path, capsys):
    """--max-steps stops with a resumable state and the best epoch so far; the same command goes on."""
    argv = ["train", "cnn", "--signal", str(runs / "sig.parquet"), "--background", str(runs / "bkg.parquet"),
            "--out", str(tmp_path / "c"), "--preset", "cpu", "--epochs", "2", "--batch-size", "16", "--no-progress",
            "--device", "cpu", "--no-nhit-matching", "--resume", str(tmp_path / "state"), "--max-steps", "7"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "stopped by the budget after" in out and "rerun the same command" in out
    state = json.loads((tmp_path / "state.state.json").read_text())
    assert state["step"] == 7
    runs_needed = 1
    while json.loads((tmp_path / "c.json").read_text())["training"]["complete"] is False:
        assert main(argv) == 0
        runs_needed += 1
        assert runs_needed < 6
    meta = json.loads((tmp_path / "c.json").read_text())
    assert len(meta["training"]["history"]) == 2 and meta["training"]["best_epoch"] in (1, 2)
    assert [r["events_seen"] for r in meta["training"]["history"]][0] > 0


def test_score_writes_attention_for_kamnet(runs, tmp_path):
    import torch

    from kamcore.nn.kamnet import KamNet, KamNetConfig
    from kamcore.train import save_model

    torch.manual_seed(0)
    cfg = KamNetConfig.from_preset("cpu", lstm_channels=[2, 2], s2_channels=2, so3_channels=[2, 2, 2],
                                   bandwidths=[4, 3, 2, 2], fc=[4])
    save_model(tmp_path / "k", KamNet(cfg), "kamnet", preset="custom")
    assert main(["score", str(tmp_path / "k"), str(runs / "sig.parquet"), "--out", str(tmp_path / "s.parquet")]) == 0
    sc = read_scores(tmp_path / "s.parquet")
    assert sc["attention"].shape == (96, 28)
    np.testing.assert_allclose(sc["attention"].sum(1), 1.0, rtol=1e-4)  # fractions per event


def test_model_errors_are_one_line(runs, tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    code = main(["score", str(tmp_path / "bad"), str(runs / "sig.parquet"), "--out", str(tmp_path / "x.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "bad.json" in err
    code = main(["train", "kamnet", "--signal", str(runs / "sig.parquet"), "--background", str(runs / "bkg.parquet"),
                 "--out", str(tmp_path / "m"), "--preset", "huge"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown KamNet preset 'huge'" in err


def test_score_a_tiny_kamnet_trained_on_its_own_grid(runs, tmp_path, capsys):
    """A tiny KamNet (4 slices on 8 x 8) trained through the CLI records its grid and scores through it;
    a checkpoint whose recorded maps do not fit the network is refused with one line (exit 2)."""
    out = tmp_path / "k"
    assert main(["train", "kamnet", "--signal", str(runs / "sig.parquet"), "--background", str(runs / "bkg.parquet"),
                 "--out", str(out), "--preset", "tiny", "--epochs", "1", "--batch-size", "16", "--no-progress",
                 "--device", "cpu", "--no-nhit-matching"]) == 0
    meta = json.loads((tmp_path / "k.json").read_text())
    assert meta["hitmap_config"]["n_time_bins"] == 4 and meta["hitmap_config"]["bandwidth"] == 4
    assert main(["score", str(out), str(runs / "sig.parquet"), "--out", str(tmp_path / "s.parquet")]) == 0
    assert read_scores(tmp_path / "s.parquet")["attention"].shape[1] == 4
    capsys.readouterr()
    meta["hitmap_config"]["bandwidth"] = 19
    (tmp_path / "k.json").write_text(json.dumps(meta))
    assert main(["score", str(out), str(runs / "sig.parquet"), "--out", str(tmp_path / "t.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hitmap_config makes 4 x 38 x 38 maps, the network reads 4 x 8 x 8" in err


def test_recalibrate_rewrites_only_the_batch_norm_statistics(runs, tmp_path, capsys):
    """kamcore recalibrate: same weights, new running statistics, the provenance recorded; too few events is
    a one-line error (exit 2)."""
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "k"
    assert main(["train", "kamnet", "--signal", str(runs / "sig.parquet"), "--background", str(runs / "bkg.parquet"),
                 "--out", str(out), "--preset", "tiny", "--epochs", "1", "--batch-size", "16", "--no-progress",
                 "--device", "cpu", "--no-nhit-matching", "--precise-bn-events", "0"]) == 0
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(tmp_path / "k.safetensors"), "pt") as f:
        header = f.metadata()
    before = load_file(str(tmp_path / "k.safetensors"))
    stale = {k: (v + 3.0 if k.endswith("running_mean") else v) for k, v in before.items()}
    save_file(stale, str(tmp_path / "k.safetensors"), metadata=header)
    assert main(["recalibrate", str(out), str(runs / "sig.parquet"), str(runs / "bkg.parquet"), "--events", "64",
                 "--out", str(tmp_path / "r")]) == 0
    assert "re-estimated on 64 events" in capsys.readouterr().out
    after = load_file(str(tmp_path / "r.safetensors"))
    changed = {k for k in after if not torch.equal(after[k], stale[k])}
    assert changed and all("running_" in k or "num_batches" in k for k in changed)
    meta = json.loads((tmp_path / "r.json").read_text())
    assert meta["batchnorm_recalibration"]["events"] == 64 and meta["hitmap_config"]["n_time_bins"] == 4
    assert main(["recalibrate", str(out), str(runs / "sig.parquet"), "--events", "1", "--out", str(tmp_path / "x")]) == 2
