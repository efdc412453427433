"""The generator study (Table 1 with its ceiling, few-shot) on tiny models."""

import numpy as np
import pytest
import torch

from kamcore.metrics.generative import QUANTITIES
from kamcore.nn.vae import PointNetVAE, VAEConfig
from kamcore.preprocess.pointcloud import point_clouds
from kamcore.sim import simulate
from kamcore.models import generate_events
from kamcore.train.generative import GenTrainConfig, fit_vae
from kamcore.train.genstudy import PAPER_TABLE1, comparison_row, few_shot_models, generator_table


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pretrained(pmts):
    ev = simulate("Bi214", 24, seed=8, pmts=pmts)
    torch.manual_seed(0)
    model = PointNetVAE(VAEConfig.from_preset("tiny"))
    fit_vae(model, *point_clouds(ev, pmts), GenTrainConfig(epochs=1, batch_size=8, device="cpu"), pmts=pmts)
    return model


def test_table_rows_and_ceiling(pretrained, pmts):
    ref = simulate("Xe136_0vbb", 20, seed=20, pmts=pmts)
    other = simulate("Xe136_0vbb", 20, seed=21, pmts=pmts)
    gen = generate_events(pretrained, 20, seed=0, pmts=pmts)
    table = generator_table(ref, other, {"vae": gen}, pmts, n_boot=3, seed=0, classifier=False)
    assert set(table["rows"]) == {"vae"}
    for row in (table["rows"]["vae"], table["ceiling"]):
        assert row["events"] == 20 and "classifier_auc" not in row
        for q in QUANTITIES:
            assert 0 <= row[q]["iou"] <= 1 and row[q]["iou_std"] >= 0 and row[q]["wd"] >= 0
    same = comparison_row(ref, ref, pmts, n_boot=0, classifier=False)
    assert all(same[q]["iou"] == 1.0 and np.isnan(same[q]["iou_std"]) for q in QUANTITIES)
    assert set(PAPER_TABLE1) == {"vae", "gan"} and PAPER_TABLE1["vae"]["time"]["iou"] == 0.890


def test_few_shot_models_fine_tune_a_copy_and_train_a_twin(pretrained, pmts):
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    shots = simulate("Xe136_0vbb", 10, seed=30, pmts=pmts)
    points, trigger = point_clouds(shots, pmts)
    out = few_shot_models(pretrained, points, trigger, GenTrainConfig(epochs=2, batch_size=5, device="cpu"),
                          pmts=pmts, scratch_seed=3)
    tuned, fresh = out["few_shot"], out["from_scratch"]
    for k, v in pretrained.state_dict().items():  # the pre-trained model is left alone
        assert torch.equal(v, before[k])
    assert torch.equal(tuned.scaler.t_mean_ns, pretrained.scaler.t_mean_ns)  # fine-tuning keeps the scaler
    assert not torch.equal(fresh.scaler.t_mean_ns, pretrained.scaler.t_mean_ns)  # the twin fits its own
    assert fresh.config.to_dict() == pretrained.config.to_dict()
    assert len(out["history"]["few_shot"]) == len(out["history"]["from_scratch"]) == 2
