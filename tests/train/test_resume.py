"""Training that survives a stop: a resumed run equals an uninterrupted one (tiny models)."""

import json

import numpy as np
import pytest
import torch

from kamcore.errors import ConfigError, ModelFileError
from kamcore.nn.cnn import CNNConfig, ConventionalCNN
from kamcore.nn.kamnet import KamNet, KamNetConfig
from kamcore.sim import simulate
from kamcore.train import TrainConfig, fit_classifier, hitmap_set, labelled_set
from kamcore.train.inputs import grid_config_for
from kamcore.train.resume import load_state, state_paths


def _build(kind):
    torch.manual_seed(0)
    if kind == "kamnet":
        return KamNet(KamNetConfig.from_preset("tiny", spherical_dropout=0.3, fc_dropout=0.2))
    return ConventionalCNN(CNNConfig.from_preset("tiny", dropout=0.3))


@pytest.fixture(scope="module")
def tiny_sets(pmts):
    cfg = grid_config_for(_build("kamnet"))  # 4 slices on 8 x 8: both tiny presets read it
    sig = hitmap_set(simulate("Xe136_0vbb", 70, seed=11, pmts=pmts), 1.0, pmts, cfg)
    bkg = hitmap_set(simulate("Bi214", 70, seed=12, pmts=pmts), 0.0, pmts, cfg)
    data = labelled_set(sig, bkg, np.random.default_rng(0), nhit_matching=False)
    return data.split(0.7, np.random.default_rng(1))


def _config(**kw):
    values = dict(epochs=3, batch_size=16, optimizer="rmsprop", lr=1e-3, seed=3, device="cpu",
                  warmup_fraction=0.2, cooldown_fraction=0.3)
    return TrainConfig(**{**values, **kw})


def _strip(history):
    return [{k: v for k, v in rec.items() if k != "seconds"} for rec in history]


@pytest.mark.parametrize("kind,optimizer", [("cnn", "rmsprop"), ("kamnet", "adam")])
def test_resumed_run_equals_an_uninterrupted_one(tiny_sets, tmp_path, kind, optimizer):
    train, val = tiny_sets
    whole = _build(kind)
    ref = fit_classifier(whole, train, val, _config(optimizer=optimizer))
    assert ref["complete"] and len(ref["epochs"]) == 3

    prefix = tmp_path / "run"
    parts, stops = [], 0
    while True:  # stop after every 4 optimiser steps (mid-epoch: 6 steps per epoch), rebuild, go on
        model = _build(kind)
        torch.manual_seed(12345)  # a fresh process would not share the interrupted one's RNG
        out = fit_classifier(model, train, val, _config(optimizer=optimizer, max_steps=4), state=str(prefix))
        parts.append(out)
        if out["complete"]:
            break
        stops += 1
        assert stops < 10
    assert stops >= 3
    assert _strip(out["epochs"]) == _strip(ref["epochs"])
    assert out["best_epoch"] == ref["best_epoch"] and out["best_val_auc"] == ref["best_val_auc"]
    for (k, a), b in zip(whole.state_dict().items(), model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)


def test_state_is_refused_with_other_settings_or_data(tiny_sets, tmp_path):
    train, val = tiny_sets
    prefix = tmp_path / "s"
    fit_classifier(_build("cnn"), train, val, _config(max_steps=2), state=str(prefix))
    meta = json.loads(state_paths(prefix).read_text())
    assert meta["step"] == 2 and meta["batches_done"] == 2 and (tmp_path / meta["tensors"]).exists()
    with pytest.raises(ConfigError, match="other training settings"):
        fit_classifier(_build("cnn"), train, val, _config(max_steps=2, lr=2e-3), state=str(prefix))
    with pytest.raises(ConfigError, match="other training data"):
        fit_classifier(_build("cnn"), train.take(np.arange(len(train) - 1)), val, _config(max_steps=2),
                       state=str(prefix))


def test_state_writes_are_generational_and_damage_is_one_line(tiny_sets, tmp_path):
    train, val = tiny_sets
    prefix = tmp_path / "g"
    for _ in range(2):
        fit_classifier(_build("cnn"), train, val, _config(max_steps=2), state=str(prefix))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["g.state-2.safetensors", "g.state.json"]  # the old generation is gone
    (tmp_path / "g.state-2.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="g.state-2.safetensors: damaged training state"):
        load_state(prefix)
    state_paths(prefix).write_text("{not json")
    with pytest.raises(ModelFileError, match="g.state.json: not a training state"):
        load_state(prefix)


def test_precise_bn_reestimates_only_the_batch_norm_buffers(tiny_sets):
    """recalibrate_batchnorm: the running mean becomes the average of the batch means, the weights and the
    global RNG are untouched, and the eval-mode logits of corrupted statistics come back."""
    from kamcore.train import recalibrate_batchnorm
    from kamcore.train.data import iterate_batches

    train, _ = tiny_sets
    model = _build("kamnet").eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms
    x = next(iter(iterate_batches(train, len(train), device=torch.device("cpu"))))[0]
    assert recalibrate_batchnorm(model, train, events=10**6, batch_size=len(train), seed=1) == len(train)
    with torch.no_grad():
        clean = model(x)
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    for m in norms:  # stale statistics, as the momentum averages of a long run can be
        m.running_mean.add_(5.0)
    with torch.no_grad():
        stale = model(x)
    assert not torch.allclose(stale, clean, atol=1e-3)
    rng = torch.random.get_rng_state()
    assert recalibrate_batchnorm(model, train, events=10**6, batch_size=len(train), seed=1) == len(train)
    assert torch.equal(torch.random.get_rng_state(), rng)  # its own random stream; dropout stayed off
    assert not model.training
    with torch.no_grad():
        again = model(x)
    torch.testing.assert_close(again, clean, rtol=1e-4, atol=1e-5)
    for k, v in model.state_dict().items():
        if k in weights:
            assert torch.equal(v, weights[k]), k
    assert norms[0].momentum == 0.1  # restored
