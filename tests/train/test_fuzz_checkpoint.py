"""Fuzzed wrong model files for :func:`kamcore.train.load_model` (issue 8, item 1).

Small checkpoints of every kind (CNN, KamNet, VAE, GAN; the ``tiny`` presets) are damaged
by hypothesis: the JSON (truncated, not JSON, not an object, another or an unknown kind,
configuration values of the wrong kind, negative, zero or absurdly large, unknown or
missing keys, nesting deeper than Python's recursion limit, missing file) or the
safetensors file (truncated, flipped bytes, a header length claiming up to 2^64 bytes,
tensors renamed, dropped, added, of another shape or dtype, non-finite weights, the
weights of another kind, missing file).  Each example either loads a usable model or
ends in a one-line :class:`~kamcore.errors.ModelFileError` that names the file and, where
the damage is sure to break the checkpoint, says what is wrong.  Large configuration
values are refused without allocating the model (meta-device check or the configuration
digest), so no example takes more than a fraction of a second.
"""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from malformed import byte_mutations, json_defects, mutate, safetensors_file, safetensors_tensors

from kamcore.errors import ModelFileError
from kamcore.train import load_model, save_model

N_EXAMPLES = {"json": 120, "weights": 120}
# no per-example deadline: a speed limit is a benchmark's job, and a loaded CI tripped it (the
# module's pytest timeout still stops a hang)
FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """``{kind: (json bytes, safetensors bytes)}`` of tiny models of every kind."""
    import kamcore.train.generative  # noqa: F401  (registers vae and gan)
    from kamcore.nn.cnn import CNNConfig, ConventionalCNN
    from kamcore.nn.kamnet import KamNet, KamNetConfig
    from kamcore.nn.vae import PointNetVAE, VAEConfig
    from kamcore.nn.wgan import GANConfig, PointCloudWGAN

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("ckpt")
    models = {"cnn": ConventionalCNN(CNNConfig.from_preset("tiny")), "kamnet": KamNet(KamNetConfig.from_preset("tiny")),
              "vae": PointNetVAE(VAEConfig.from_preset("tiny")), "gan": PointCloudWGAN(GANConfig.from_preset("tiny"))}
    out = {}
    for kind, model in models.items():
        w, m = save_model(d / kind, model, kind, preset="tiny")
        out[kind] = (m.read_bytes(), w.read_bytes())
    return out


def settle(prefix, pattern: str):
    """Load ``prefix``: a usable model, or a one-line ModelFileError naming one of its files matching ``pattern``."""
    try:
        model, meta = load_model(prefix)
    except Exception as exc:  # noqa: BLE001 - whatever escapes is the finding
        assert isinstance(exc, ModelFileError), f"{type(exc).__name__} leaked: {exc}"
        msg = str(exc)
        assert "\n" not in msg and msg, repr(msg)
        assert f"{prefix}.json" in msg or f"{prefix}.safetensors" in msg, msg
        assert re.search(pattern, msg), (pattern, msg)
        return False
    assert not pattern, f"damaged checkpoint loaded (expected {pattern!r})"
    assert isinstance(meta, dict) and not model.training
    for t in model.state_dict().values():
        assert not t.is_floating_point() or torch.isfinite(t).all()
    return True


def test_damaged_json(checkpoints, tmp_path_factory):
    d = tmp_path_factory.mktemp("json")
    ran = []

    @settings(FUZZ, max_examples=N_EXAMPLES["json"])
    @given(st.sampled_from(sorted(checkpoints)), st.data())
    def body(kind, data):
        doc_bytes, weights = checkpoints[kind]
        new, pattern = data.draw(json_defects(json.loads(doc_bytes)))
        prefix = d / f"m{len(ran)}"
        (d / f"m{len(ran)}.safetensors").write_bytes(weights)
        if new is not None:
            (d / f"m{len(ran)}.json").write_bytes(new)
        ran.append(settle(prefix, pattern))

    body()
    assert len(ran) >= N_EXAMPLES["json"]
    assert 0 < sum(ran) < len(ran) / 2


_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}


def _weights_defects(draw, kind: str, weights: bytes, others: dict) -> tuple[bytes | None, str]:
    """``(new safetensors bytes or None to delete the file, pattern of the refusal or "" if it may load)``."""
    meta, tensors = safetensors_tensors(weights)
    what = draw(st.sampled_from(["bytes", "header_len", "rename", "drop", "extra", "shape", "dtype", "nan", "other",
                                 "empty", "missing", "metadata_kind", "overlap"]))
    name = draw(st.sampled_from(sorted(tensors)))
    dtype, shape, raw = tensors[name]
    n = int(np.prod(shape))
    if what == "bytes":
        return mutate(weights, draw(byte_mutations())), ""
    if what == "header_len":
        claim = draw(st.sampled_from([0, 1, 7, 2**31, 2**63, 2**64 - 1, len(weights) + 8]))
        return struct.pack("<Q", claim) + weights[8:], r"not a safetensors file"
    if what == "rename":
        tensors[name + "_renamed"] = tensors.pop(name)
        return safetensors_file(meta, tensors), r"tensors do not match"
    if what == "drop":
        tensors.pop(name)
        return safetensors_file(meta, tensors), r"tensors do not match"
    if what == "extra":
        tensors["extra.weight"] = ["F32", [1], b"\0\0\0\0"]
        return safetensors_file(meta, tensors), r"tensors do not match"
    if what == "shape":
        if n < 2:
            return weights, ""
        tensors[name][1] = [n] if len(shape) > 1 else [1, n]
        return safetensors_file(meta, tensors), r"has shape"
    if what == "dtype":
        new = draw(st.sampled_from([k for k in _SIZES if k != dtype]))
        tensors[name] = [new, shape, (raw * 8)[:n * _SIZES[new]]]
        return safetensors_file(meta, tensors), r"has dtype"
    if what == "nan":
        if dtype != "F32" or not n:
            return weights, ""
        value = draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))
        tensors[name][2] = struct.pack("<f", value) + raw[4:]
        return safetensors_file(meta, tensors), r"non-finite"
    if what == "other":
        other = draw(st.sampled_from(sorted(k for k in others if k != kind)))
        return others[other][1], r"holds '\w+' weights"
    if what == "empty":
        return b"", r"not a safetensors file"
    if what == "missing":
        return None, r"weights file not found"
    if what == "overlap":  # well-formed JSON header whose offsets do not tile the data
        header = json.loads(weights[8:8 + struct.unpack("<Q", weights[:8])[0]])
        if header[name]["data_offsets"][0] == 0:
            return weights, ""
        header[name]["data_offsets"] = [0, header[name]["data_offsets"][1] - header[name]["data_offsets"][0]]
        text = json.dumps(header).encode()
        return struct.pack("<Q", len(text)) + text + weights[8 + struct.unpack("<Q", weights[:8])[0]:], (
            r"not a safetensors file")
    stamp = {**json.loads(meta["kamcore"]), "model": "gan" if kind != "gan" else "vae"}
    return safetensors_file({**meta, "kamcore": json.dumps(stamp)}, tensors), r"holds '\w+' weights"


def test_damaged_weights(checkpoints, tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    ran = []

    @settings(FUZZ, max_examples=N_EXAMPLES["weights"])
    @given(st.sampled_from(sorted(checkpoints)), st.data())
    def body(kind, data):
        doc_bytes, weights = checkpoints[kind]
        new, pattern = _weights_defects(data.draw, kind, weights, checkpoints)
        prefix = d / f"m{len(ran)}"
        (d / f"m{len(ran)}.json").write_bytes(doc_bytes)
        if new is not None:
            (d / f"m{len(ran)}.safetensors").write_bytes(new)
        ran.append(settle(prefix, pattern))

    body()
    assert len(ran) >= N_EXAMPLES["weights"]
    assert sum(ran) < len(ran) / 2
