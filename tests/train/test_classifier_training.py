"""Training loop, data pipeline and checkpoints on a tiny CNN and small seeded simulations."""

import json

import numpy as np
import pytest
import torch

from kamcore.errors import ModelFileError
from kamcore.nn.cnn import CNNConfig, ConventionalCNN
from kamcore.sim import simulate
from kamcore.train import (TrainConfig, fit_classifier, hitmap_set, iterate_batches, labelled_set, load_model, predict,
                           save_model)


@pytest.fixture(scope="module")
def small_sets(pmts):
    sig = hitmap_set(simulate("Xe136_0vbb", 120, seed=1, pmts=pmts), 1.0, pmts)
    bkg = hitmap_set(simulate("Bi214", 160, seed=2, pmts=pmts), 0.0, pmts)
    return sig, bkg


def test_labelled_set_is_nhit_matched_and_split(small_sets):
    sig, bkg = small_sets
    data = labelled_set(sig, bkg, np.random.default_rng(0))
    s, b = data.nhit[data.label == 1], data.nhit[data.label == 0]
    np.testing.assert_array_equal(np.sort(s), np.sort(b))
    train, val = data.split(0.7, np.random.default_rng(1))
    assert len(train) + len(val) == len(data) and abs(len(train) - 0.7 * len(data)) <= 1
    keys = lambda d: set(zip(d.source, d.event_id))  # noqa: E731
    assert not keys(train) & keys(val)


def test_batches_densify_the_sparse_maps(small_sets, pmts):
    sig, _ = small_sets
    x, y, idx = next(iterate_batches(sig, 8))
    assert x.shape == (8, 28, 38, 38) and x.dtype == torch.float32 and (y == 1).all()
    np.testing.assert_array_equal(x.numpy(), sig.maps.dense(idx))


def test_tiny_cnn_learns_and_round_trips(small_sets, tmp_path):
    sig, bkg = small_sets
    data = labelled_set(sig, bkg, np.random.default_rng(0), nhit_matching=False)
    train, val = data.split(0.7, np.random.default_rng(1))
    torch.manual_seed(0)
    net = ConventionalCNN(CNNConfig(channels=[8, 8], hidden=[8]))
    cfg = TrainConfig(epochs=3, batch_size=16, optimizer="adam", lr=3e-3, seed=0, device="cpu")
    hist = fit_classifier(net, train, val, cfg)
    assert len(hist["epochs"]) == 3
    assert hist["epochs"][-1]["train_loss"] < hist["epochs"][0]["train_loss"] + 0.05
    scores, att = predict(net, val)
    assert scores.shape == (len(val),) and att is None and ((scores >= 0) & (scores <= 1)).all()
    w, m = save_model(tmp_path / "cnn", net, "cnn", training={"events": len(train)})
    assert w.name == "cnn.safetensors" and json.loads(m.read_text())["training"]["events"] == len(train)
    loaded, meta = load_model(tmp_path / "cnn")
    again, _ = predict(loaded, val)
    np.testing.assert_allclose(again, scores, rtol=1e-5, atol=1e-6)
    assert meta["model"] == "cnn"


def test_bad_checkpoints_are_refused(tmp_path):
    net = ConventionalCNN(CNNConfig(channels=[4], hidden=[4]))
    save_model(tmp_path / "a", net, "cnn")
    meta = json.loads((tmp_path / "a.json").read_text())
    meta["config"]["channels"] = [5]
    (tmp_path / "a.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r"a\.safetensors: tensor .* has shape"):
        load_model(tmp_path / "a")
    (tmp_path / "b.json").write_text('{"model": "pickle-bomb"}')
    with pytest.raises(ModelFileError, match="unknown model kind 'pickle-bomb'"):
        load_model(tmp_path / "b")
    save_model(tmp_path / "c", net, "cnn")
    (tmp_path / "c.safetensors").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ModelFileError, match=r"c\.safetensors: not a safetensors file"):
        load_model(tmp_path / "c")
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing")
