"""kamcore.train.checkpoint: one-line ModelFileError for every damaged checkpoint (cases found by
tests/train/test_fuzz_checkpoint.py), and the guards that refuse a wrong configuration before building it."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
import torch

from kamcore.errors import ModelFileError
from kamcore.nn.cnn import CNNConfig, ConventionalCNN
from kamcore.nn.kamnet import KamNet, KamNetConfig
from kamcore.train import MODELS, load_model, save_model
from kamcore.train.checkpoint import config_digest

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def cnn(tmp_path):
    save_model(tmp_path / "c", ConventionalCNN(CNNConfig.from_preset("tiny")), "cnn")
    return tmp_path / "c"


def _edit_json(prefix, **changes):
    path = prefix.with_name(prefix.name + ".json")
    doc = json.loads(path.read_text())
    for key, value in changes.items():
        if key == "config":
            doc["config"].update(value)
        else:
            doc[key] = value
    path.write_text(json.dumps(doc))


def _refused(prefix, suffix, pattern):
    with pytest.raises(ModelFileError, match=pattern) as info:
        load_model(prefix)
    msg = str(info.value)
    assert "\n" not in msg and f"{prefix}{suffix}" in msg
    return msg


def test_round_trip_records_kind_and_config_digest(cnn):
    from safetensors import safe_open

    model, meta = load_model(cnn)
    with safe_open(str(cnn) + ".safetensors", framework="pt") as f:
        assert json.loads(f.metadata()["kamcore"]) == {"model": "cnn", "config_sha256": config_digest(meta["config"])}


def test_saving_twice_gives_the_same_bytes(cnn, tmp_path):
    """safetensors keeps metadata in a hash map: two entries came out in a random order."""
    model, _ = load_model(cnn)
    digests = set()
    for k in range(6):
        save_model(tmp_path / f"m{k}", model, "cnn")
        digests.add(hashlib.sha256((tmp_path / f"m{k}.safetensors").read_bytes()).hexdigest())
    assert len(digests) == 1


def test_weights_saved_with_two_metadata_entries_still_load(cnn):
    """Checkpoints written before the single "kamcore" entry."""
    from safetensors.torch import load_file, save_file

    model, meta = load_model(cnn)
    w = str(cnn) + ".safetensors"
    save_file(load_file(w), w, metadata={"model": "cnn", "config_sha256": config_digest(meta["config"])})
    load_model(cnn)
    save_file(load_file(w), w, metadata={"model": "gan", "config_sha256": config_digest(meta["config"])})
    _refused(cnn, ".safetensors", r"holds 'gan' weights")


def test_kind_that_is_not_a_string(cnn):
    """Was TypeError (unhashable list) before."""
    _edit_json(cnn, model=["cnn"])
    _refused(cnn, ".json", r"unknown model kind \['cnn'\]")


def test_json_nested_beyond_the_recursion_limit(cnn):
    """Was RecursionError before."""
    (cnn.parent / "c.json").write_text('{"model": "cnn", "config": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _refused(cnn, ".json", r"not a model configuration \(RecursionError\)")


@pytest.mark.parametrize("config", [[1, 2], "cnn", None])
def test_configuration_that_is_not_an_object(cnn, config):
    doc = json.loads((cnn.parent / "c.json").read_text())
    doc["config"] = config
    (cnn.parent / "c.json").write_text(json.dumps(doc))
    _refused(cnn, ".json", r"invalid cnn configuration \(a JSON \w+, expected an object\)")


def test_negative_width(cnn):
    """torch's RuntimeError (negative dimension) leaked before."""
    _edit_json(cnn, config={"channels": [-1, 8]})
    _refused(cnn, ".json", r"invalid cnn configuration \(Trying to create tensor with negative dimension")


def test_absurd_width_is_refused_without_allocating(cnn):
    """2^40 channels: checked on the meta device against the weights, never allocated (would need 40 TB)."""
    _edit_json(cnn, config={"channels": [2**40, 8]})
    _refused(cnn, ".safetensors", r"tensor 'blocks\.0\.conv\.weight' has shape \(4, 4, 3, 3\), the configuration "
                                  r"needs \(1099511627776, 4, 3, 3\)")


def test_edited_kamnet_configuration_is_refused_before_building(tmp_path, monkeypatch):
    """KamNet cannot be built on the meta device: the recorded configuration digest guards it."""
    save_model(tmp_path / "k", KamNet(KamNetConfig.from_preset("tiny")), "kamnet")
    _edit_json(tmp_path / "k", config={"so3_channels": [4, 5, 2**20]})
    built = []
    monkeypatch.setitem(MODELS, "kamnet", (lambda cfg: built.append(cfg) or KamNet(KamNetConfig(**cfg)),
                                           MODELS["kamnet"][1]))
    _refused(tmp_path / "k", ".json", r"kamnet configuration differs from the one k\.safetensors was saved with")
    assert len(built) == 1  # the meta-device attempt (which cannot build KamNet), no real build


def _rewrite_weights(prefix, fn):
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    path = str(prefix) + ".safetensors"
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    state = load_file(path)
    state, meta = fn(state, meta)
    save_file(state, path, metadata=meta)


def test_wrong_dtype(cnn):
    _rewrite_weights(cnn, lambda s, m: ({**s, "blocks.0.conv.weight": s["blocks.0.conv.weight"].double()}, m))
    _refused(cnn, ".safetensors", r"tensor 'blocks\.0\.conv\.weight' has dtype F64, the configuration needs F32")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights(cnn, value):
    def poison(s, m):
        w = s["blocks.0.conv.weight"].clone()
        w.view(-1)[3] = value
        return {**s, "blocks.0.conv.weight": w}, m

    _rewrite_weights(cnn, poison)
    _refused(cnn, ".safetensors", r"tensor 'blocks\.0\.conv\.weight' holds 1 non-finite value")


def test_weights_of_another_kind(cnn):
    _rewrite_weights(cnn, lambda s, m: (s, {"kamcore": json.dumps({**json.loads(m["kamcore"]), "model": "vae"})}))
    _refused(cnn, ".safetensors", r"holds 'vae' weights, c\.json says 'cnn'")


@pytest.mark.parametrize("stamp", ["{not json", "[]", '{"model": "cnn"}', '{"model": 1, "config_sha256": "x"}'])
def test_damaged_kamcore_metadata(cnn, stamp):
    _rewrite_weights(cnn, lambda s, m: (s, {"kamcore": stamp}))
    _refused(cnn, ".safetensors", r"damaged kamcore metadata")


@pytest.mark.parametrize("claim", [2**64 - 1, 2**31, 0])
def test_header_claiming_absurd_size(cnn, claim):
    path = cnn.with_name("c.safetensors")
    path.write_bytes(struct.pack("<Q", claim) + path.read_bytes()[8:])
    _refused(cnn, ".safetensors", r"not a safetensors file")


def test_checkpoints_without_digest_still_load(cnn):
    """Checkpoints saved before the digest was recorded (the shipped ones) load as before."""
    _rewrite_weights(cnn, lambda s, m: (s, {"model": "cnn"}))
    model, _ = load_model(cnn)
    assert isinstance(model, ConventionalCNN) and torch.isfinite(next(model.parameters())).all()


@pytest.mark.parametrize("which", [".json", ".safetensors"])
def test_fifo_is_refused_without_blocking(cnn, which):
    import os

    path = cnn.with_name("c" + which)
    path.unlink()
    os.mkfifo(path)
    _refused(cnn, which, "not a regular file")


def test_kamnet_checkpoints_older_than_a_choice_load_with_the_mechanism_they_were_trained_with(tmp_path, monkeypatch):
    """A configuration saved before ``attention`` existed is the cellwise mechanism; one saved before
    ``attention_scale`` existed is the plain sum of eq. 3 (the first shipped kamnet_bi214)."""
    build, to_config = MODELS["kamnet"]
    for dropped, expect in ((("attention", "attention_scale"), ("cellwise", "sum")),
                            (("attention_scale",), ("slice", "sum"))):
        monkeypatch.setitem(MODELS, "kamnet", (build, lambda m: {k: v for k, v in to_config(m).items()
                                                                 if k not in dropped}))
        cfg = KamNetConfig.from_preset("tiny")
        cfg.attention = expect[0]
        save_model(tmp_path / "old", KamNet(cfg), "kamnet")
        monkeypatch.setitem(MODELS, "kamnet", (build, to_config))
        model, meta = load_model(tmp_path / "old")
        assert not set(dropped) & set(meta["config"])
        assert (model.lstm.attention, model.lstm.attention_scale) == expect
    assert KamNetConfig().attention_scale == "sqrt"
