"""Every ``kamcore study`` end to end on the tiny preset (a few dozen events, seconds): JSON + PNG figures,
and one-line errors with exit status 2 on bad input."""

import json

import pytest
import torch

from kamcore.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRAIN = ["--epochs", "1", "--batch-size", "8", "--optimizer", "adam", "--lr", "1e-3", "--threads", "1",
         "--device", "cpu", "--seed", "0", "--no-progress"]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from kamcore.nn.cnn import CNNConfig, ConventionalCNN
    from kamcore.nn.kamnet import KamNet, KamNetConfig
    from kamcore.train import save_model

    d = tmp_path_factory.mktemp("study_models")
    torch.manual_seed(0)
    save_model(d / "kamnet_tiny", KamNet(KamNetConfig.from_preset("tiny")), "kamnet", preset="tiny")
    save_model(d / "cnn_tiny", ConventionalCNN(CNNConfig.from_preset("tiny")), "cnn", preset="tiny")
    return [str(d / "kamnet_tiny"), str(d / "cnn_tiny")]


def _check(out, study, capsys):
    doc = json.loads((out / f"{study}.json").read_text())
    assert doc["study"] == study and doc["command"].startswith("kamcore study")
    assert doc["comparison"] and all({"quantity", "ours", "paper"} <= set(r) for r in doc["comparison"])
    assert doc["figures"] and all((out / f).stat().st_size > 5000 for f in doc["figures"])
    assert all((out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in doc["figures"])
    assert doc["inputs"] and doc["seeds"] and doc["caveats"]
    assert "paper" in capsys.readouterr().out
    return doc


def test_pressure_map_tiny(tmp_path, capsys):
    out = tmp_path / "pm"
    code = main(["study", "pressure-map", "--out", str(out), "--preset", "tiny", "--n-qe", "2", "--n-coverage", "1",
                 "--train-events", "16", "--test-events", "12", *TRAIN])
    assert code == 0, capsys.readouterr().err
    doc = _check(out, "pressure_map", capsys)
    r = doc["results"]
    assert r["qe"] == [0.23, 0.39] and r["coverage"] == [0.22] and len(r["cells"]) == 2
    assert r["difference"][0][0] == pytest.approx(r["kamnet"][0][0] - r["cnn"][0][0])
    assert r["mean_difference"] == pytest.approx((r["difference"][0][0] + r["difference"][1][0]) / 2)
    assert doc["comparison"][1]["ours"] == r["kamnet"][0][0]  # the KamLAND-Zen cell QE 23%, coverage 22%


def test_excited_states_tiny(tmp_path, capsys):
    out = tmp_path / "es"
    code = main(["study", "excited-states", "--out", str(out), "--preset", "tiny", "--events-per-state", "20",
                 "--background-events", "50", "--save-model", str(tmp_path / "es_kamnet"), *TRAIN])
    assert code == 0, capsys.readouterr().err
    doc = _check(out, "excited_states", capsys)
    r = doc["results"]
    assert set(r["efficiency"]) == {"Xe136_2vbb_0+1", "Xe136_2vbb_2+1", "Xe136_2vbb_2+2"}
    assert r["background_kept"] == pytest.approx(0.3, abs=0.15)
    m = r["matched_events"]
    assert sum(v for k, v in m.items() if k != "Xe136_2vbb") == m["Xe136_2vbb"]  # Nhit matched
    assert (tmp_path / "es_kamnet.safetensors").exists()


@pytest.mark.parametrize("study,extra", [
    ("sensitivity", ["--signal-events", "30", "--background-events", "20"]),
    ("fiducial", ["--film-events", "150", "--signal-events", "30", "--bootstrap", "5"]),
    ("attention", ["--events", "12"]),
])
def test_evaluation_studies_tiny(tiny_models, tmp_path, capsys, study, extra):
    out = tmp_path / study
    code = main(["study", study, "--out", str(out), "--model", *tiny_models, "--threads", "1", *extra])
    assert code == 0, capsys.readouterr().err
    doc = _check(out, study, capsys)
    assert set(doc["models"]) == {"kamnet_tiny", "cnn_tiny"}
    by = doc["results"]["by_model"]
    if study == "sensitivity":
        assert by["kamnet_tiny"]["at_acceptance"]["tpr"] == pytest.approx(0.9, abs=0.05)
        assert doc["comparison"][0]["ours"] == pytest.approx(1.076, abs=5e-4)
    if study == "attention":
        att = by["kamnet_tiny"]["attention_by_source"]
        assert len(att) == 12 and all(abs(sum(p) - 1) < 1e-5 and len(p) == 4 for p in att.values())
        assert by["cnn_tiny"]["attention_by_source"] is None


@pytest.mark.parametrize("argv,message", [
    (["study", "sensitivity", "--out", "{tmp}/x", "--model", "{tmp}/missing"], "model configuration not found"),
    (["study", "fiducial", "--out", "{tmp}/x", "--r-min-cm", "170"], "need r_min < r_fiducial < r_max"),
    (["study", "pressure-map", "--out", "{tmp}/x", "--qe-min", "0.4", "--qe-max", "0.3"], "grid ends must be ordered"),
    (["study", "pressure-map", "--out", "{tmp}/x", "--n-qe", "0"], "invalid option"),
    (["study", "excited-states", "--out", "{tmp}/no/such/dir"], "does not exist"),
    (["study", "attention", "--out", "{tmp}/x", "--preset", "tiny"], "unrecognized arguments"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, message):
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("argv", [["study", "--help"], *[["study", s, "--help"] for s in
                                                         ("pressure-map", "sensitivity", "fiducial", "excited-states",
                                                          "attention")]])
def test_help_formats(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "usage: kamcore study" in out and "%%" not in out.split("options:")[0]
