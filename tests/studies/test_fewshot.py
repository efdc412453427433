"""The few-shot study on a tiny configuration: every model and quantity reported, the numbers sane."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kamcore.errors import ConfigError
from kamcore.studies import FewShotConfig, run_few_shot
from kamcore.train.generative import GenTrainConfig


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("fewshot") / "fs"
    cfg = FewShotConfig(pretrain_events=24, pretrain_epochs=1, shots=6, sets=2, events=30, preset="tiny",
                        calibrate=4, bootstrap=2, sim_seed=700)
    doc = run_few_shot(cfg, GenTrainConfig(epochs=1, batch_size=8, threads=1, device="cpu", seed=3), out,
                       command="test")
    return out, doc


def test_every_model_and_quantity_is_reported_with_its_spread_over_sets(study):
    from kamcore.metrics import ALL_QUANTITIES

    out, doc = study
    on_disk = json.loads((out / "few_shot.json").read_text())
    assert on_disk["study"] == "few_shot" and on_disk["command"] == "test"
    summary = doc["results"]["summary"]
    assert set(summary) == {"few_shot", "from_scratch", "few_shot_calibrated", "from_scratch_calibrated"}
    for name, s in summary.items():
        assert s["sets"] == 2 and len(doc["results"]["per_set"][name]) == 2
        for q in ALL_QUANTITIES:
            assert 0.0 <= s[q]["iou"] <= 1.0 and s[q]["iou_std_over_sets"] is not None, (name, q)
        assert 0.0 <= s["classifier_auc"] <= 1.0
    for q in ALL_QUANTITIES:
        assert 0.0 < doc["results"]["ceiling"][q]["iou"] <= 1.0
    assert (out / doc["figures"][0]).stat().st_size > 10_000
    assert any("few-shot" in row["quantity"] for row in doc["comparison"])


def test_the_unknown_background_sits_at_the_balloon_bottom_unlike_the_pretraining(study):
    _, doc = study
    med = doc["results"]["centroid_median_cm"]
    assert med["reference_mc"]["z"] < -40 < med["pretraining_mc"]["z"]
    assert med["reference_mc"]["r"] > med["pretraining_mc"]["r"]


def test_bad_configuration_is_one_line():
    with pytest.raises(ConfigError, match="target_source: unknown source 'Bi999'"):
        FewShotConfig(target_source="Bi999").check()
    with pytest.raises(ConfigError, match="calibrate and bootstrap"):
        FewShotConfig(calibrate=1).check()


def test_the_cli_runs_the_study(tmp_path, capsys):
    from kamcore.cli.main import main

    rc = main(["study", "few-shot", "--out", str(tmp_path / "o"), "--pretrain-events", "12", "--pretrain-epochs", "1",
               "--shots", "4", "--sets", "1", "--events", "12", "--preset", "tiny", "--calibrate", "0",
               "--bootstrap", "0", "--no-classifier", "--epochs", "1", "--batch-size", "4", "--threads", "1",
               "--device", "cpu"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "few-shot" in text and "paper" in text
    doc = json.loads((tmp_path / "o" / "few_shot.json").read_text())
    assert set(doc["results"]["summary"]) == {"few_shot", "from_scratch"}
    assert np.isfinite(doc["results"]["summary"]["few_shot"]["nhit"]["iou"])
