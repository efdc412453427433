"""kamcore train vae|gan / generate / compare end to end on the tiny presets (CPU, seconds)."""

import json

import numpy as np
import pytest
import torch

from kamcore.cli import main
from kamcore.io import read_events
from kamcore.metrics.generative import QUANTITIES

_TINY = ["--preset", "tiny", "--epochs", "2", "--batch-size", "16", "--seed", "0", "--device", "cpu",
         "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    """50 Xe136_0vbb MC events, a tiny VAE and a tiny GAN trained on them, 40 events of the VAE."""
    d = tmp_path_factory.mktemp("gen_cli")
    assert main(["simulate", "--source", "Xe136_0vbb", "--events", "50", "--seed", "1", "--no-progress",
                 "--out", str(d / "mc.parquet")]) == 0
    assert main(["train", "vae", "--events", str(d / "mc.parquet"), "--out", str(d / "vae"), *_TINY]) == 0
    assert main(["train", "gan", "--events", str(d / "mc.parquet"), "--out", str(d / "gan"), *_TINY,
                 "--n-critic", "2"]) == 0
    assert main(["generate", "--model", str(d / "vae"), "--events", "40", "--seed", "3",
                 "--out", str(d / "g.parquet")]) == 0
    return d


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_train_writes_checkpoint_with_provenance(d, kind):
    meta = json.loads((d / f"{kind}.json").read_text())
    assert meta["model"] == kind and meta["preset"] == "tiny" and (d / f"{kind}.safetensors").is_file()
    t = meta["training"]
    assert t["files"] == ["mc.parquet"] and t["sources"] == ["Xe136_0vbb"] and t["events"] == 50
    assert t["train_config"]["epochs"] == 2 and [e["epoch"] for e in t["history"]] == [1, 2]
    assert t["command"].startswith(f"kamcore train {kind} --events ")
    assert t["pmt_table_digest"] and meta["metrics"]


def test_train_is_reproducible(d, tmp_path, capsys):
    code, out, err = run(["train", "vae", "--events", str(d / "mc.parquet"), "--out", str(tmp_path / "v"),
                          *_TINY], capsys)
    assert code == 0, err
    assert "vae/tiny trained on 50 events (Xe136_0vbb)" in out
    assert (tmp_path / "v.safetensors").read_bytes() == (d / "vae.safetensors").read_bytes()


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_generate_info_hitmaps_compare(d, kind, capsys):
    gen = d / f"gen_{kind}.parquet"
    code, out, err = run(["generate", "--model", str(d / kind), "--events", "40", "--seed", "3", "--out", str(gen)],
                         capsys)
    assert code == 0, err
    assert f"40 generated:{kind} events" in out
    ev = read_events(gen)
    assert len(ev) == 40 and set(ev.source) == {f"generated:{kind}"} and ev.n_hits > 0
    assert ev.attrs["time_reference"] == "proper" and ev.attrs["generator_checkpoint"] == kind
    assert ev.attrs["generated_by"].startswith(f"kamcore generate --model {d / kind} --events 40 --seed 3")

    code, out, err = run(["info", str(gen)], capsys)
    assert code == 0, err
    assert f"generated:{kind} (40)" in out
    code, out, err = run(["hitmaps", str(gen), "--out", str(d / f"maps_{kind}.npz")], capsys)
    assert code == 0, err
    assert np.load(d / f"maps_{kind}.npz")["maps"].shape == (40, 28, 38, 38)

    code, out, err = run(["compare", str(d / "mc.parquet"), str(gen)], capsys)
    assert code == 0, err
    for label in ("hit time", "charge", "NHIT", "total charge", "centroid R", "centroid z", "classifier AUC"):
        assert label in out
    assert "50 events: Xe136_0vbb" in out and f"40 events: generated:{kind}" in out


def test_generate_is_reproducible(d, capsys):
    a, b, c = d / "rep_a.parquet", d / "rep_b.parquet", d / "rep_c.parquet"
    for path, seed, model in ((a, "7", d / "vae"), (b, "7", d / "vae.json"), (c, "8", d / "vae")):
        assert main(["generate", "--model", str(model), "--events", "30", "--seed", seed, "--out", str(path)]) == 0
    capsys.readouterr()
    assert a.read_bytes() == b.read_bytes()            # same seed: the same file, wherever it is written
    assert not read_events(a).equals(read_events(c))   # another seed: other events


def test_compare_json_and_identity(d, capsys):
    mc = str(d / "mc.parquet")
    code, out, err = run(["compare", mc, mc, "--json", "--no-classifier", "--bins", "20"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert r["command"] == f"kamcore compare {mc} {mc} --json --no-classifier --bins 20"
    assert r["real"]["events"] == r["generated"]["events"] == 50 and "classifier_auc" not in r["metrics"]
    for q in QUANTITIES:
        assert r["metrics"][q]["iou"] == pytest.approx(1.0) and r["metrics"][q]["wd"] == pytest.approx(0.0)

    code, out, err = run(["compare", mc, str(d / "g.parquet"), "--json", "--seed", "2"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert set(QUANTITIES) <= set(r["metrics"]) and 0.0 <= r["metrics"]["classifier_auc"] <= 1.0
    assert all(0.0 <= r["metrics"][q]["iou"] <= 1.0 and r["metrics"][q]["wd"] >= 0.0 for q in QUANTITIES)


def test_compare_ceiling(d, capsys):
    assert main(["generate", "--model", str(d / "gan"), "--events", "20", "--seed", "1",
                 "--out", str(d / "g20.parquet")]) == 0
    capsys.readouterr()
    code, out, err = run(["compare", str(d / "mc.parquet"), str(d / "g20.parquet"), "--ceiling", "--json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert r["ceiling"]["n_real"] == r["ceiling"]["n_generated"] == 20 and "classifier_auc" in r["ceiling"]
    code, out, err = run(["compare", str(d / "mc.parquet"), str(d / "g20.parquet"), "--ceiling"], capsys)
    assert code == 0 and "ceiling IoU" in out


def test_train_subcommand_dispatches_generators(d, tmp_path, capsys):
    """``kamcore train vae|gan``: model_cmds hands the generator kinds to gen_cmds.train_generator."""
    code, out, err = run(["train", "gan", "--events", str(d / "mc.parquet"), "--out", str(tmp_path / "g"), *_TINY,
                          "--epochs", "1"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "g.json").read_text())["training"]["command"].startswith("kamcore train gan")


def test_train_with_validation_and_fine_tuning(d, tmp_path, capsys):
    mc = str(d / "mc.parquet")
    code, out, err = run(["train", "vae", "--events", mc, "--out", str(tmp_path / "v"), *_TINY, "--val-events", mc,
                          "--epochs", "3", "--lr-schedule", "cosine"], capsys)
    assert code == 0, err
    meta = json.loads((tmp_path / "v.json").read_text())
    hist = meta["training"]["history"]
    assert [("val" in e) for e in hist] == [True, True, True] and meta["training"]["validation_file"] == "mc.parquet"
    best = max(range(3), key=lambda i: hist[i]["val"]["score"]) + 1
    assert meta["metrics"]["best_epoch"] == best and meta["metrics"]["best_val_score"] == hist[best - 1]["val"]["score"]
    assert 0 < meta["metrics"]["val_iou_nhit"] <= 1
    code, out, err = run(["train", "vae", "--events", mc, "--out", str(tmp_path / "ft"), *_TINY, "--epochs", "1",
                          "--init", str(tmp_path / "v"), "--max-events", "10"], capsys)
    assert code == 0, err
    ft = json.loads((tmp_path / "ft.json").read_text())
    assert ft["training"]["initialised_from"]["checkpoint"] == "v" and ft["training"]["events"] == 10
    from kamcore.train import load_model
    a, b = load_model(tmp_path / "v")[0], load_model(tmp_path / "ft")[0]
    assert torch.equal(a.scaler.t_mean_ns, b.scaler.t_mean_ns)  # fine-tuning keeps the scaler
    code, _, err = run(["train", "vae", "--events", mc, "--out", str(tmp_path / "x"), *_TINY,
                        "--init", str(d / "gan")], capsys)
    assert code == 2 and "is a gan checkpoint, training a vae" in err


def test_calibrate_and_train_with_calibration(d, tmp_path, capsys):
    mc = str(d / "mc.parquet")
    code, out, err = run(["calibrate", str(d / "vae"), "--events", mc, "--knots", "16", "--generate", "40",
                          "--out", str(tmp_path / "vc")], capsys)
    assert code == 0, err
    assert "16-quantile output calibration fitted on 50 events" in out
    meta = json.loads((tmp_path / "vc.json").read_text())
    assert meta["config"]["calibration_knots"] == 16 and meta["training"]["calibration"]["knots"] == 16
    assert meta["training"]["sources"] == ["Xe136_0vbb"]  # the training record is kept
    code, out, err = run(["train", "gan", "--events", mc, "--out", str(tmp_path / "gc"), *_TINY, "--epochs", "1",
                          "--calibrate", "8", "--arch", "critic_triggers=straight_through", "latent_dim=3"], capsys)
    assert code == 0, err
    cfg = json.loads((tmp_path / "gc.json").read_text())["config"]
    assert cfg["calibration_knots"] == 8 and cfg["critic_triggers"] == "straight_through" and cfg["latent_dim"] == 3
    code, _, err = run(["calibrate", str(d / "vae"), "--events", mc, "--knots", "1", "--out", str(tmp_path / "x")],
                       capsys)
    assert code == 2 and "--knots must be >= 2" in err


def test_shipped_models_resolve_by_name(d, tmp_path, monkeypatch, capsys):
    assets = tmp_path / "assets"
    assets.mkdir()
    for suffix in (".json", ".safetensors"):
        (assets / f"vae_xe136{suffix}").write_bytes((d / f"vae{suffix}").read_bytes())
    monkeypatch.setenv("KAMCORE_ASSETS", str(assets))
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["generate", "--model", "vae_xe136", "--events", "5", "--seed", "1",
                          "--out", str(tmp_path / "s.parquet")], capsys)
    assert code == 0, err
    ev = read_events(tmp_path / "s.parquet")
    assert ev.attrs["generated_by"].startswith("kamcore generate --model vae_xe136 --events 5")
    assert ev.attrs["generator_checkpoint"] == "vae_xe136"
    code, _, err = run(["generate", "--model", "vae_nope", "--events", "5", "--seed", "1",
                        "--out", str(tmp_path / "s.parquet")], capsys)
    assert code == 2 and "vae_nope.json: model configuration not found" in err


def test_gen_results_table_and_few_shot(d, tmp_path, capsys):
    out = tmp_path / "res.json"
    common = ["gen-results", "--vae", str(d / "vae"), "--gan", str(d / "gan"), "--events", "16", "--bootstrap", "3",
              "--out", str(out), "--no-classifier"]
    code, text, err = run(common, capsys)
    assert code == 0, err
    r = json.loads(out.read_text())
    assert r["reference"]["source"] == "Xe136_0vbb" and r["reference"]["seed"] == 100000
    assert set(r["table"]["rows"]) == {"vae", "gan"} and set(r["models"]) == {"vae", "gan"}
    for row in (*r["table"]["rows"].values(), r["table"]["ceiling"]):
        for q in QUANTITIES:
            assert 0 <= row[q]["iou"] <= 1 and row[q]["iou_std"] >= 0 and row[q]["wd"] >= 0
    assert set(r["checks"]) == set(QUANTITIES) and "few_shot" not in r
    assert "MC vs MC" in text and "NHIT IoU" in text
    few = ["--few-shot", "--skip-table", "--pretrain", str(d / "mc.parquet"), "--pretrain-max-events", "20",
           "--pretrain-epochs", "1", "--shot-events", str(d / "mc.parquet"), "--shots", "8", "--preset", "tiny", "--arch", "bce_weight=3",
           "--epochs", "2", "--batch-size", "4", "--save-models", str(tmp_path / "fs"), "--calibrate", "16"]
    code, text, err = run(common + few, capsys)
    assert code == 0, err
    r2 = json.loads(out.read_text())
    assert r2["table"] == r["table"]  # kept
    fs = r2["few_shot"]
    assert set(fs["rows"]) == {"few_shot", "from_scratch", "few_shot_calibrated", "from_scratch_calibrated"}
    assert fs["shots"]["events"] == 8 and fs["pretraining"]["events"] == 20
    assert set(fs["few_shot_beats_scratch"]) == {"nhit", "total_charge", "nhit_calibrated", "total_charge_calibrated"}
    assert fs["config"]["bce_weight"] == 3
    assert (tmp_path / "fs" / "vae_few_shot.safetensors").is_file()
    # the table again, now with a calibrated VAE (and its raw decoder beside it); the few-shot part is kept
    assert main(["calibrate", str(d / "vae"), "--events", str(d / "mc.parquet"), "--knots", "8", "--generate", "20",
                 "--out", str(tmp_path / "vc")]) == 0
    code, text, err = run(["gen-results", "--vae", str(tmp_path / "vc"), "--events", "16", "--bootstrap", "0",
                           "--no-classifier", "--out", str(out), "--keep-few-shot"], capsys)
    assert code == 0, err
    r3 = json.loads(out.read_text())
    assert set(r3["table"]["rows"]) == {"vae", "vae_uncalibrated"} and r3["few_shot"] == fs
    assert r3["few_shot_command"].startswith("kamcore gen-results") and "--few-shot" in r3["few_shot_command"]
    code, _, err = run(["gen-results", "--out", str(out)], capsys)
    assert code == 2 and "give --vae and/or --gan" in err
    code, _, err = run(common + ["--heldout-seed", "0"], capsys)  # mc.parquet was simulated with seed 1
    assert code == 2 and "would reuse the training seed 1" in err


@pytest.fixture(scope="module")
def kamnet_ckpt(tmp_path_factory):
    from kamcore.nn.kamnet import KamNet, KamNetConfig
    from kamcore.train import save_model

    torch.manual_seed(0)
    cfg = KamNetConfig.from_preset("cpu", lstm_channels=[2, 2], s2_channels=2, so3_channels=[2, 2, 2],
                                   bandwidths=[4, 3, 2, 2], fc=[4])
    path = tmp_path_factory.mktemp("kamnet") / "k"
    save_model(path, KamNet(cfg), "kamnet", preset="custom")
    return path


def _errors(d, kamnet, tmp):
    mc, out = str(d / "mc.parquet"), str(tmp / "x.parquet")
    (tmp / "notes.txt").write_text("not an event file\n")
    (tmp / "bad.json").write_text("{not json")
    gen = ["generate", "--seed", "1", "--out", out]
    return [
        (gen + ["--model", str(d / "vae"), "--events", "0"], "--events must be >= 1, got 0"),
        (gen + ["--model", str(d / "vae"), "--events", "-3"], "--events must be >= 1, got -3"),
        (["generate", "--model", str(d / "vae"), "--events", "5", "--seed", "-1", "--out", out],
         "--seed must be in [0, 2^63), got -1"),
        (gen + ["--model", str(tmp / "missing"), "--events", "5"], "missing.json: model configuration not found"),
        (gen + ["--model", str(tmp / "bad"), "--events", "5"], "bad.json: not a model configuration"),
        (gen + ["--model", str(kamnet), "--events", "5"], "is a kamnet checkpoint; expected an event generator"),
        (gen + ["--model", str(d / "vae"), "--events", "5", "--out", str(tmp / "nodir" / "x.parquet")],
         "output directory"),
        (gen + ["--model", str(d / "vae"), "--events", "five"], "invalid int value: 'five'"),
        (["train", "vae", "--events", str(tmp / "nope.parquet"), "--out", str(tmp / "m")], "nope.parquet"),
        (["train", "vae", "--events", str(tmp / "notes.txt"), "--out", str(tmp / "m")], "notes.txt"),
        (["train", "vae", "--events", mc, "--out", str(tmp / "m"), "--preset", "huge"],
         "unknown VAE preset 'huge'"),
        (["train", "gan", "--events", mc, "--out", str(tmp / "m"), "--preset", "huge"],
         "unknown GAN preset 'huge'"),
        (["train", "vae", "--events", mc, "--out", str(tmp / "m"), "--epochs", "0"], "epochs"),
        (["train", "vae", "--events", mc, "--out", str(tmp / "m"), "--max-events", "0"],
         "--max-events must be >= 1"),
        (["train", "vae", "--events", str(d / "g.parquet"), "--out", str(tmp / "m")],
         "holds generated events"),
        (["train", "flow", "--events", mc, "--out", str(tmp / "m")], "invalid choice: 'flow'"),
        (["compare", mc, str(tmp / "nope.parquet")], "nope.parquet"),
        (["compare", str(tmp / "notes.txt"), mc], "notes.txt"),
        (["compare", mc, mc, "--bins", "0"], "--bins must be >= 1"),
        (["compare", mc, mc, "--ceiling", "--no-classifier"], "--ceiling needs REAL with >= 2 x 50 events"),
        (["train", "vae", "--events", mc, "--out", str(tmp / "m"), "--arch", "widthx=3"], "unknown vae setting"),
        (["train", "vae", "--events", mc, "--out", str(tmp / "m"), "--arch", "latent_dim"], "expects KEY=VALUE"),
        (["train", "gan", "--events", mc, "--out", str(tmp / "m"), "--arch", "critic_triggers=hard"], "--arch:"),
        (["train", "vae", "--events", mc, "--out", str(tmp / "m"), "--calibrate", "1"], "--calibrate must be"),
    ]


def test_errors_are_one_line_exit_2(d, kamnet_ckpt, tmp_path, capsys):
    for argv, match in _errors(d, kamnet_ckpt, tmp_path):
        code, _, err = run(argv, capsys)
        assert code == 2, (argv, err)
        assert len(err.strip().splitlines()) == 1 and match in err, (argv, err)
    assert not (tmp_path / "x.parquet").exists() and not (tmp_path / "m.json").exists()


@pytest.fixture(scope="module")
def cvae(d):
    """A tiny conditional VAE (issue 18) trained on the 50 MC events (their fitted vertices and energies)."""
    assert main(["train", "vae", "--events", str(d / "mc.parquet"), "--out", str(d / "cvae"), *_TINY,
                 "--arch", "condition=true", "condition_rows=16"]) == 0
    return d / "cvae"


def test_conditional_generate_is_reproducible_and_records_the_condition(d, cvae, tmp_path, capsys):
    meta = json.loads((d / "cvae.json").read_text())
    assert meta["config"]["condition"] is True
    argv = ["generate", "--model", str(cvae), "--events", "30", "--seed", "5", "--vertex", "0", "0", "150",
            "--energy", "2.6"]
    for name in ("a", "b"):
        code, out, err = run([*argv, "--out", str(tmp_path / f"{name}.parquet")], capsys)
        assert code == 0, err
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    ev = read_events(tmp_path / "a.parquet")
    assert "--vertex 0 0 150 --energy 2.6" in ev.attrs["generated_by"]
    assert json.loads(ev.attrs["generator_condition"]) == {"energy_mev": 2.6, "vertex_cm": [0.0, 0.0, 150.0]}
    # unconditioned draws (from the checkpoint's table) differ from the fixed condition, and are seeded too
    for name in ("c", "e"):
        assert run(["generate", "--model", str(cvae), "--events", "30", "--seed", "5",
                    "--out", str(tmp_path / f"{name}.parquet")], capsys)[0] == 0
    assert (tmp_path / "c.parquet").read_bytes() == (tmp_path / "e.parquet").read_bytes()
    assert not read_events(tmp_path / "c.parquet").equals(ev)


def test_bad_condition_options_are_one_line_errors(d, cvae, tmp_path, capsys):
    base = ["generate", "--events", "5", "--seed", "1", "--out", str(tmp_path / "x.parquet")]
    for argv, match in [
        ([*base, "--model", str(cvae), "--vertex", "0", "0", "900"], "--vertex must be finite with radius <= 650 cm"),
        ([*base, "--model", str(cvae), "--vertex", "nan", "0", "0"], "--vertex must be finite"),
        ([*base, "--model", str(cvae), "--energy", "-1"], "--energy must be a finite energy > 0 MeV, got -1"),
        ([*base, "--model", str(d / "vae"), "--vertex", "0", "0", "100"], "need a conditional VAE"),
        ([*base, "--model", str(d / "gan"), "--energy", "2.5"], "need a conditional VAE"),
    ]:
        code, _, err = run(argv, capsys)
        assert code == 2, (argv, err)
        assert len(err.strip().splitlines()) == 1 and match in err, (argv, err)
    assert not (tmp_path / "x.parquet").exists()
