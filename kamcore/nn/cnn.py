"""The conventional CNN baseline: planar 2-D convolutions with the time slices as channels.

This is the architecture family KamNet was compared against (KamNet paper, sec. IV;
the earlier KamLAND CNN): the ``(T, H, W) = (28, 38, 38)`` hit map is read as a
28-channel image, and blocks of ``conv3x3 -> batch norm -> ReLU -> max-pool 2``
shrink it to a feature vector that a fully connected head turns into one logit.
Azimuth is padded circularly (the map wraps in phi), theta with zeros, so the
baseline is not handicapped by an artificial seam; it still has no notion of
rotations on the sphere, which is the point of the comparison.

Shapes: input ``(B, T, H, W)`` float, output logits ``(B,)``.
"""

from __future__ import annotations

import param
import torch
from torch import nn

from ..config import JsonConfig
from .convlstm import _pad_sphere

__all__ = ["CNNConfig", "ConventionalCNN", "CNN_PRESETS"]


class CNNConfig(JsonConfig):
    """Hyper-parameters of the baseline CNN (presets in :data:`CNN_PRESETS`)."""

    n_time = param.Integer(default=28, bounds=(1, None), doc="Input channels: the time slices T.")
    size = param.Integer(default=38, bounds=(4, None), doc="Map size H = W.")
    channels = param.List(default=[32, 64, 128], item_type=int, doc="Output channels of each conv block.")
    hidden = param.List(default=[128, 32], item_type=int, doc="Hidden widths of the fully connected head.")
    dropout = param.Number(default=0.2, bounds=(0.0, 0.9), doc="Dropout before each hidden layer.")
    preset = param.String(default="cpu", doc="Name of the preset this configuration came from.")


#: preset name -> parameter values (missing ones take the class defaults = cpu).  ``cpu`` has a
#: parameter count and training cost of the same order as KamNet's ``cpu`` preset.
CNN_PRESETS: dict[str, dict] = {
    "paper": {"channels": [64, 128, 256], "hidden": [256, 64]},
    "cpu": {},
    "tiny": {"n_time": 4, "size": 8, "channels": [4, 8], "hidden": [8], "dropout": 0.0},
}
CNNConfig.PRESETS = CNN_PRESETS


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=(1, 0), bias=False)
        self.norm = nn.BatchNorm2d(c_out)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.norm(self.conv(_pad_sphere(x, 3, 3)))))


class ConventionalCNN(nn.Module):
    """Planar CNN over ``(B, T, H, W)`` hit maps -> logits ``(B,)`` (see module docstring)."""

    def __init__(self, config: CNNConfig | None = None):
        super().__init__()
        self.config = config = config or CNNConfig()
        chans = [config.n_time, *config.channels]
        self.blocks = nn.Sequential(*(_Block(a, b) for a, b in zip(chans[:-1], chans[1:])))
        self.pool = nn.AdaptiveAvgPool2d(1)
        layers: list[nn.Module] = []
        width = chans[-1]
        for h in config.hidden:
            layers += [nn.Dropout(config.dropout), nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.pool(self.blocks(x)).flatten(1)  # (B, C)
        return self.head(z).squeeze(1)
