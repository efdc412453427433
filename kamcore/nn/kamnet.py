"""KamNet: AttentionConvLSTM -> spherical CNN -> fully connected score.

The hit map ``x (B, T, 2b, 2b)`` (T = 28 time slices on the bandwidth-19 grid) goes
through

1. :class:`~kamcore.nn.convlstm.AttentionConvLSTM`: two ConvLSTM layers over the time
   slices and temporal attention -> context ``(B, C_lstm, 2b, 2b)`` on the sphere and
   the attention per time slice ``(B, T)``; optionally (``context_norm``) a batch norm
   of the context, which puts the small event-dependent part of the context on the
   scale the spherical convolutions expect;
2. an S2 convolution (sphere -> SO(3)) and three SO(3) convolutions, each followed
   by batch norm, ReLU and dropout, lowering the bandwidth ``19 -> 14 -> 10 -> 6 -> 2``
   (paper preset);
3. integration over SO(3) with the Haar measure -> a rotation-invariant vector
   ``(B, C_last)``;
4. a fully connected stack (batch norm, ReLU, dropout) to one logit.

``sigmoid(logit)`` is the KamNet score (1 = signal-like, single vertex).  The
configuration is a ``param`` class with presets (:data:`KAMNET_PRESETS`):

* ``paper`` -- the reference hyper-parameters of the public KamNet code (DESIGN 5),
  the default for GPU users;
* ``cpu`` -- a smaller network that trains on a 2-core CPU in under 90 minutes; the
  shipped model;
* ``tiny`` -- a few channels on an 8x8 map with 4 time slices, for tests.
"""

from __future__ import annotations


import param
import torch
from torch import nn

from ..config import JsonConfig
from .convlstm import AttentionConvLSTM
from .s2conv import S2Convolution
from .so3conv import SO3Convolution
from .so3integrate import so3_integrate

__all__ = ["KamNetConfig", "KamNet", "KAMNET_PRESETS"]


class KamNetConfig(JsonConfig):
    """Hyper-parameters of :class:`KamNet` (defaults: the ``paper`` preset, DESIGN 5)."""

    n_time = param.Integer(default=28, bounds=(1, None), doc="Time slices T of the input.")
    bandwidth = param.Integer(default=19, bounds=(2, None), doc="Input bandwidth b (map 2b x 2b).")
    lstm_channels = param.List(default=[12, 22], item_type=int, doc="Hidden channels of the ConvLSTM layers.")
    lstm_kernels = param.List(default=[5, 3], item_type=int, doc="Kernel sizes of the ConvLSTM layers.")
    attention = param.Selector(default="slice", objects=["slice", "cellwise"], doc=(
        "'slice': the paper's eqs. 3-4, one score per time slice; 'cellwise': the first checkpoints' "
        "softmax per (c, theta, phi) (kamcore.nn.convlstm)."))
    attention_scale = param.Selector(default="sqrt", objects=["sqrt", "sum"], doc=(
        "'slice': slice energies divided by sqrt(C H W) (default) or their plain sum (the first slice "
        "checkpoints, whose attention collapsed onto one slice; kamcore.nn.convlstm)."))
    attention_init = param.Number(default=0.3, bounds=(0.0, None), doc=(
        "'slice': the constant the attention weights start at; 'cellwise': they start U(-a, a)."))
    forget_bias = param.Number(default=0.0, doc=(
        "Initial forget-gate bias of the ConvLSTM cells (0: PyTorch default; see kamcore.nn.convlstm)."))
    context_norm = param.Boolean(default=False, doc="Batch norm on the ConvLSTM context before the S2 convolution.")
    s2_channels = param.Integer(default=36, bounds=(1, None), doc="Output channels of the S2 convolution.")
    so3_channels = param.List(default=[63, 74, 124], item_type=int, doc="Output channels of the SO(3) convs.")
    bandwidths = param.List(default=[14, 10, 6, 2], item_type=int,
                            doc="Output bandwidth of the S2 conv and of each SO(3) conv.")
    fc = param.List(default=[1080, 864, 432, 216, 54], item_type=int, doc="Widths of the fully connected stack.")
    spherical_dropout = param.Number(default=0.406, bounds=(0.0, 0.95), doc="Dropout after each spherical conv.")
    fc_dropout = param.Number(default=0.086, bounds=(0.0, 0.95), doc="Dropout in the fully connected stack.")
    preset = param.String(default="paper", doc="Name of the preset this configuration came from.")


#: preset name -> parameter values (missing ones take the class defaults = paper)
KAMNET_PRESETS: dict[str, dict] = {
    "paper": {},
    "cpu": {
        "lstm_channels": [4, 8], "lstm_kernels": [3, 3], "forget_bias": 3.0, "attention_init": 0.3,
        "context_norm": True,
        "s2_channels": 12, "so3_channels": [16, 24, 32], "bandwidths": [10, 6, 4, 2],
        "fc": [64, 32], "spherical_dropout": 0.2, "fc_dropout": 0.1,
    },
    "tiny": {
        "n_time": 4, "bandwidth": 4, "lstm_channels": [2, 3], "lstm_kernels": [3, 3],
        "s2_channels": 4, "so3_channels": [4, 5, 6], "bandwidths": [3, 3, 2, 2],
        "fc": [8], "spherical_dropout": 0.0, "fc_dropout": 0.0,
    },
}
KamNetConfig.PRESETS = KAMNET_PRESETS


class KamNet(nn.Module):
    """The KamNet classifier (module docstring).  Input ``(B, T, 2b, 2b)``, output logits ``(B,)``."""

    def __init__(self, config: KamNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or KamNetConfig()
        if len(cfg.lstm_channels) != len(cfg.lstm_kernels):
            raise ValueError(f"lstm_channels {cfg.lstm_channels} and lstm_kernels {cfg.lstm_kernels} differ in length")
        if len(cfg.bandwidths) != len(cfg.so3_channels) + 1:
            raise ValueError(f"need {len(cfg.so3_channels) + 1} bandwidths (S2 + each SO(3) conv), got {cfg.bandwidths}")
        size = 2 * cfg.bandwidth
        self.lstm = AttentionConvLSTM(cfg.lstm_channels, cfg.lstm_kernels, n_time=cfg.n_time, height=size,
                                      width=size, attention_init=cfg.attention_init, forget_bias=cfg.forget_bias,
                                      attention=cfg.attention, attention_scale=cfg.attention_scale)
        self.context_norm = nn.BatchNorm2d(self.lstm.out_channels) if cfg.context_norm else nn.Identity()
        chans = [cfg.s2_channels, *cfg.so3_channels]
        bws = [cfg.bandwidth, *cfg.bandwidths]
        convs: list[nn.Module] = [S2Convolution(self.lstm.out_channels, chans[0], bws[0], bws[1])]
        for i in range(len(cfg.so3_channels)):
            convs.append(SO3Convolution(chans[i], chans[i + 1], bws[i + 1], bws[i + 2]))
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(nn.BatchNorm3d(c) for c in chans)
        self.spherical_dropout = nn.Dropout(cfg.spherical_dropout)
        layers: list[nn.Module] = []
        width = chans[-1]
        for h in cfg.fc:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(cfg.fc_dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.head = nn.Sequential(*layers)

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(B,)`` and attention per time slice ``(B, T)`` of hit maps ``x (B, T, 2b, 2b)``."""
        z, attention = self.lstm(x)  # (B, C, 2b, 2b) on (beta, alpha)
        z = self.context_norm(z)
        for conv, norm in zip(self.convs, self.norms):
            z = self.spherical_dropout(torch.relu(norm(conv(z))))  # (B, C, 2b', 2b', 2b')
        z = so3_integrate(z)  # (B, C)
        return self.head(z).squeeze(1), attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B,)``."""
        return self.forward_with_attention(x)[0]
