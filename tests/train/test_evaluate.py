"""Held-out evaluation by source: the attention block (profile, errors, ratio, attention-only probe)."""

import numpy as np
import torch

from kamcore.nn.cnn import CNNConfig, ConventionalCNN
from kamcore.nn.kamnet import KamNet, KamNetConfig
from kamcore.sim import simulate
from kamcore.train import hitmap_set
from kamcore.train.evaluate import evaluate_by_source
from kamcore.train.inputs import grid_config_for


def test_attention_block_of_a_tiny_kamnet(pmts):
    torch.manual_seed(0)
    net = KamNet(KamNetConfig.from_preset("tiny")).eval()
    cfg = grid_config_for(net)
    sig = hitmap_set(simulate("Xe136_0vbb", 40, seed=21, pmts=pmts), 1.0, pmts, cfg)
    bkg = {"C10": hitmap_set(simulate("C10", 40, seed=22, pmts=pmts), 0.0, pmts, cfg)}
    rep = evaluate_by_source(net, sig, bkg, device="cpu")
    prof, err = rep["attention_by_source"], rep["attention_error_by_source"]
    assert set(prof) == {"Xe136_0vbb", "C10"} and len(prof["C10"]) == 4
    np.testing.assert_allclose(sum(prof["C10"]), 1.0, rtol=1e-5)
    assert all(e > 0 for e in err["C10"])  # events differ: the attention is event-dependent
    m = np.array(prof["C10"])
    np.testing.assert_allclose(rep["attention_max_over_min"]["C10"], m.max() / m.min(), rtol=1e-6)
    assert 0.0 <= rep["attention_probe_auc"]["C10"] <= 1.0

    cnn = ConventionalCNN(CNNConfig.from_preset("tiny")).eval()
    rep = evaluate_by_source(cnn, sig, bkg, device="cpu")
    assert rep["attention_by_source"] is None and rep["attention_probe_auc"] is None
