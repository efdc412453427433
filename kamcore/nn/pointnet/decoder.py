"""The PMT decoder of the VAE and of the WGAN-GP generator: latent vector -> per-PMT trigger logit, t, q."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ...errors import ConfigError
from .layers import SharedMLP


class PMTDecoder(nn.Module):
    """Fully connected decoder: latent ``(B, L)`` -> per-PMT ``(B, P, 3) = [trigger logit, t_hat, q_hat]``.

    ``Linear -> ReLU`` hidden layers (optionally layer-normalised), then one linear
    layer with ``3 P`` outputs, optionally factorised through ``rank`` features
    (``W = W_out W_low``, no non-linearity in between: the output layer dominates the
    sampling cost, ``width x 3P`` multiply-adds per event, and a rank-``r`` factor
    costs ``r (width + 3P)``).  ``t_hat`` and ``q_hat`` are in the scaled units of
    :class:`PointCloudScaler`.

    Parameters
    ----------
    latent_dim : int
    widths : sequence of int
        Hidden widths.
    n_pmts : int
    norm : {"layer", "none", "batch"}
    rank : int
        0 (default): a full output layer; otherwise the rank of the factorised one.
    skip : int
        The last ``skip`` input columns also reach the trigger logits directly,
        ``logit += x[:, -skip:] @ W_skip`` (``W_skip (skip, P)``, zero at start; 0: none).  A
        conditional VAE passes its condition this way: to first order, an off-centre vertex
        changes each PMT's trigger logit linearly in the vertex (the hit dipole).

    Examples
    --------
    >>> dec = PMTDecoder(4, [16], 10, rank=3)
    >>> tuple(dec(torch.zeros(2, 4)).shape), tuple(dec.low.weight.shape)
    ((2, 10, 3), (3, 16))
    """

    def __init__(self, latent_dim: int, widths: Sequence[int], n_pmts: int, norm: str = "none", rank: int = 0,
                 skip: int = 0):
        super().__init__()
        if rank < 0:
            raise ConfigError(f"decoder rank must be >= 0 (0: full output layer), got {rank}")
        if not 0 <= skip <= latent_dim:
            raise ConfigError(f"decoder skip must be in [0, {latent_dim}] (input columns), got {skip}")
        self.n_pmts, self.skip = n_pmts, skip
        self.hidden = SharedMLP(latent_dim, widths, norm) if widths else nn.Identity()
        width = widths[-1] if widths else latent_dim
        self.low = nn.Linear(width, rank, bias=False) if rank else nn.Identity()
        self.out = nn.Linear(rank or width, 3 * n_pmts)
        if skip:
            self.skip_weight = nn.Parameter(torch.zeros(skip, n_pmts))     # (skip, P)

    @torch.no_grad()
    def init_output_bias(self, trigger_rate: torch.Tensor) -> None:
        """Start the logits at ``logit(rate)`` per PMT and ``t_hat = q_hat = 0`` (the training means).

        ``trigger_rate (P,)`` in [0, 1] (clipped to [1e-3, 1 - 1e-3]).
        """
        r = torch.as_tensor(trigger_rate, dtype=self.out.bias.dtype, device=self.out.bias.device)
        r = r.clamp(1e-3, 1 - 1e-3)
        bias = self.out.bias.view(self.n_pmts, 3)
        bias[:, 0] = torch.log(r / (1 - r))
        bias[:, 1:] = 0.0

    @torch.no_grad()
    def init_skip(self, x: torch.Tensor, trigger: torch.Tensor, ridge: float = 1e-3) -> None:
        """Start the skip path at the per-PMT linear fit of the trigger bits on the skip inputs.

        With ``x (N, skip)`` the skip inputs of the training events, ``y (N, P)`` their
        trigger bits, ``r`` the per-PMT rate and ``x0`` the mean input, the least-squares
        slopes ``B = (X^T X + ridge N I)^-1 X^T (y - r)`` (``X = x - x0``) become logit
        slopes ``W_skip = B / (r (1 - r))`` (the logistic function's slope at ``r``), and the
        logit biases are moved to ``logit(r) - x0 W_skip``, so that the mean event keeps the
        rate of :meth:`init_output_bias` (call that first).  The first-order hit dipole is then
        in the decoder before the first step.
        """
        if not self.skip:
            return
        x = torch.as_tensor(x, dtype=torch.float64)
        y = torch.as_tensor(trigger, dtype=torch.float64)
        x0, r = x.mean(0), y.mean(0).clamp(1e-3, 1 - 1e-3)
        xc = x - x0
        gram = xc.T @ xc + ridge * len(x) * torch.eye(x.shape[1], dtype=x.dtype)
        slope = torch.linalg.solve(gram, xc.T @ (y - y.mean(0)))                  # (skip, P)
        w = slope / (r * (1 - r))
        self.skip_weight.copy_(w.to(self.skip_weight.dtype))
        bias = self.out.bias.view(self.n_pmts, 3)
        bias[:, 0] = (torch.log(r / (1 - r)) - x0 @ w).to(device=bias.device, dtype=bias.dtype)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.out(self.features(z)).view(z.shape[0], self.n_pmts, 3)  # (B, P, 3)
        if self.skip:
            logit = out[..., 0] + z[:, -self.skip:] @ self.skip_weight     # (B, P)
            out = torch.cat([logit[..., None], out[..., 1:]], -1)
        return out

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """Input of the output layer: ``z (B, L) -> (B, rank or width)``."""
        if torch.is_grad_enabled() or not self._plain_hidden():
            return self.low(self.hidden(z))
        for lin in self.hidden.layers[::3]:                 # sampling: Linear -> ReLU fused, in place
            z = torch.addmm(lin.bias, z, lin.weight.t()).relu_()
        return self.low(z)

    def _plain_hidden(self) -> bool:
        """The hidden layers are ``Linear -> (no norm) -> ReLU`` triples."""
        layers = getattr(self.hidden, "layers", ())
        return len(layers) > 0 and len(layers) % 3 == 0 and all(
            isinstance(layers[i], nn.Linear) and getattr(layers[i + 1], "kind", None) == "none"
            and isinstance(layers[i + 2], nn.ReLU) for i in range(0, len(layers), 3))

    def split_output(self) -> tuple[torch.Tensor, ...]:
        """The output layer split by quantity: ``(w_logit, b_logit, w_t, b_t, w_q, b_q)``, each ``w (K, P)``, ``b (P,)``.

        ``K`` is the rank (or the last hidden width), so ``f @ w_logit + b_logit`` are the
        trigger logits of features ``f (B, K)``, and likewise ``t_hat`` and ``q_hat``.
        Together they equal :attr:`out` (same weights, regrouped and transposed: ``f @ w``
        runs a little faster than ``f @ W.T`` here, and one plane per quantity lets the
        sampler gather the hits of each with flat indices).  Contiguous copies, detached,
        cached and rebuilt whenever the weights change (optimizer step, ``load_state_dict``).
        """
        w, b = self.out.weight, self.out.bias
        key = (w._version, b._version, w.data_ptr(), b.data_ptr(), w.dtype, w.device)
        cache = self.__dict__.get("_split")
        if cache is None or cache[0] != key:
            with torch.no_grad(), torch.inference_mode(False):   # ordinary tensors, usable in any mode
                w3 = w.detach().view(self.n_pmts, 3, -1)              # (P, 3, K)
                b3 = b.detach().view(self.n_pmts, 3)
                cache = (key,) + tuple(t for i in range(3)
                                       for t in (w3[:, i].t().contiguous(), b3[:, i].contiguous()))
            self.__dict__["_split"] = cache
        return cache[1:]
