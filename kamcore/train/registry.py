"""The classifier kinds that checkpoints know how to rebuild (``MODELS`` of :mod:`.checkpoint`)."""

from __future__ import annotations

import json

from ..nn.cnn import CNNConfig, ConventionalCNN
from ..nn.kamnet import KamNet, KamNetConfig
from .checkpoint import register_model


def _config_dict(cfg) -> dict:
    return {k: v for k, v in cfg.param.values().items() if k != "name"}


def _build_cnn(config: dict) -> ConventionalCNN:
    return ConventionalCNN(CNNConfig(**config))


register_model("cnn", _build_cnn, lambda m: json.loads(json.dumps(_config_dict(m.config))))


def _build_kamnet(config: dict) -> KamNet:
    # checkpoints saved before the attention choice existed used the cellwise mechanism
    return KamNet(KamNetConfig(**{"attention": "cellwise", **config}))


register_model("kamnet", _build_kamnet, lambda m: m.config.to_dict())
