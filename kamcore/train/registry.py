"""The classifier kinds that checkpoints know how to rebuild (``MODELS`` of :mod:`.checkpoint`)."""

from __future__ import annotations


from ..nn.cnn import CNNConfig, ConventionalCNN
from ..nn.kamnet import KamNet, KamNetConfig
from .checkpoint import register_model



def _build_cnn(config: dict) -> ConventionalCNN:
    return ConventionalCNN(CNNConfig(**config))


register_model("cnn", _build_cnn, lambda m: m.config.to_dict())


def _build_kamnet(config: dict) -> KamNet:
    # checkpoints saved before the attention choice existed used the cellwise mechanism, and those saved
    # before the energy scale existed the plain sum of eq. 3
    return KamNet(KamNetConfig(**{"attention": "cellwise", "attention_scale": "sum", **config}))


register_model("kamnet", _build_kamnet, lambda m: m.config.to_dict())
