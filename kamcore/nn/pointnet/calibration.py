"""The quantile calibration of generated t and q, fitted after training."""

from __future__ import annotations


import torch
from torch import nn

from ...errors import ConfigError


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear ``f(x)`` through ``(xp, fp)``, ``xp`` increasing; constant beyond the ends (``np.interp``)."""
    xp, fp = xp.to(x.dtype), fp.to(x.dtype)
    i = torch.searchsorted(xp, x.contiguous()).clamp(1, len(xp) - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    w = ((x - x0) / (x1 - x0).clamp_min(1e-12)).clamp(0.0, 1.0)
    return f0 + w * (f1 - f0)


class OutputCalibration(nn.Module):
    """Monotone quantile mapping of generated ``t_hat`` and ``q_hat`` onto the training distributions.

    A decoder trained with a Chamfer loss emits, for every PMT, one value per latent
    vector; its pooled distribution of hit times and charges comes out narrower than
    the data (the tails are under-populated).  This map, fitted after training,

        t_hat' = F_data^{-1}(F_gen(t_hat))          (and the same for q_hat)

    sends the ``k``-th of ``K`` quantiles of the generated triggered values to the
    ``k``-th quantile of the training hits, linearly in between and constant beyond the
    ends.  It is monotone, so within an event the order of the hit times and charges is
    kept; only the pooled one-dimensional distributions are matched.

    Parameters
    ----------
    knots : int
        ``K``, quantiles per quantity.

    Buffers
    -------
    t_from, t_to, q_from, q_to : (K,), in the scaled units of :class:`PointCloudScaler`
    fitted : () bool
        Until :meth:`fit` is called the map is the identity.

    Examples
    --------
    >>> cal = OutputCalibration(3).fit(torch.tensor([0., 1., 2.]), torch.tensor([0., 2., 4.]),
    ...                                torch.zeros(3), torch.zeros(3))
    >>> cal.t(torch.tensor([0.5, 3.0]))
    tensor([1., 4.])
    """

    def __init__(self, knots: int):
        super().__init__()
        if knots < 2:
            raise ConfigError(f"the output calibration needs >= 2 knots, got {knots}")
        self.knots = knots
        for name in ("t_from", "t_to", "q_from", "q_to"):
            self.register_buffer(name, torch.linspace(-1.0, 1.0, knots))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, t_gen: torch.Tensor, t_data: torch.Tensor, q_gen: torch.Tensor,
            q_data: torch.Tensor) -> "OutputCalibration":
        """Fit the maps from generated and data values (1-D, scaled units); returns ``self``."""
        levels = torch.linspace(0.0, 1.0, self.knots, dtype=torch.float64)
        for name, gen, data in (("t", t_gen, t_data), ("q", q_gen, q_data)):
            gen = torch.as_tensor(gen, dtype=torch.float64).reshape(-1)
            data = torch.as_tensor(data, dtype=torch.float64).reshape(-1)
            if len(gen) < 2 or len(data) < 2:
                raise ConfigError(f"cannot calibrate {name} on {len(gen)} generated and {len(data)} data values")
            src = torch.quantile(gen, levels)
            # strictly increasing knots (ties in the generated values would make the map jump)
            src = src + torch.arange(self.knots, dtype=torch.float64) * 1e-9 * (1 + src.abs().max())
            getattr(self, f"{name}_from").copy_(src)
            getattr(self, f"{name}_to").copy_(torch.quantile(data, levels))
        self.fitted.fill_(True)
        return self

    #: intervals of the look-up tables the maps are evaluated with (see :meth:`table`)
    table_size = 65536

    def table(self, name: str, like: torch.Tensor, scale: float = 1.0, shift: float = 0.0,
              exp: bool = False) -> tuple[torch.Tensor, float, float, float]:
        """The map of ``name`` ("t" or "q") tabulated on ``G + 1`` equally spaced points, for :meth:`_eval`.

        Returns ``(values (G + 1,), a, b, top)``: ``values[k] = g(scale * map(x_k) + shift)``
        at ``x_k = x0 + k (x1 - x0) / G`` (``[x0, x1]`` the range of the knots), with
        ``g = exp`` when ``exp`` else the identity; a value ``x`` reads the nearest point,
        index ``clamp(floor(a + b x), 0, top)``.  A look-up costs a multiply-add and one
        gather per value, where a search among the quantile knots costs a binary search.
        The value read is the map at most half a spacing (``(x1 - x0) / 2G``) away from
        ``x``, with ``G = 65536`` far less than one histogram bin, and exactly the end
        values beyond the ends.  Cached, and rebuilt whenever the knots change (fit,
        ``load_state_dict``).
        """
        xp, fp = getattr(self, f"{name}_from"), getattr(self, f"{name}_to")
        key = (name, xp._version, fp._version, xp.data_ptr(), fp.data_ptr(), like.dtype, like.device,
               float(scale), float(shift), bool(exp))
        cache = self.__dict__.setdefault("_luts", {})
        if key not in cache:
            if len(cache) > 16:
                cache.clear()
            g = self.table_size
            with torch.no_grad(), torch.inference_mode(False):   # ordinary tensors, usable in any mode
                x0, x1 = float(xp[0]), float(xp[-1])
                step = max(x1 - x0, 1e-12) / g
                grid = torch.linspace(x0, x1, g + 1, dtype=torch.float64, device=xp.device)
                vals = _interp(grid, xp.to(torch.float64), fp.to(torch.float64)) * float(scale) + float(shift)
                if exp:
                    vals = vals.exp()
                cache[key] = (vals.to(device=like.device, dtype=like.dtype), 0.5 - x0 / step, 1.0 / step, float(g))
        return cache[key]

    def _eval(self, name: str, x: torch.Tensor, scale: float = 1.0, shift: float = 0.0,
              exp: bool = False) -> torch.Tensor:
        """``g(scale * map(x) + shift)`` for the map of ``name``, through the table of :meth:`table`; any shape."""
        values, a, b, top = self.table(name, x, scale, shift, exp)
        pos = (x * b).add_(a).clamp_(0.0, top)                  # nearest point + 1/2
        return values.index_select(0, pos.to(torch.int32).reshape(-1)).view(x.shape)   # floor (pos >= 0)

    def t(self, t_hat: torch.Tensor) -> torch.Tensor:
        """Calibrated ``t_hat`` (scaled units), any shape."""
        return self._eval("t", t_hat) if bool(self.fitted) else t_hat

    def q(self, q_hat: torch.Tensor) -> torch.Tensor:
        """Calibrated ``q_hat`` (scaled units), any shape."""
        return self._eval("q", q_hat) if bool(self.fitted) else q_hat

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """``raw (..., 3) = [logit, t_hat, q_hat]`` with ``t_hat`` and ``q_hat`` calibrated."""
        return torch.stack([raw[..., 0], self.t(raw[..., 1]), self.q(raw[..., 2])], -1)

    def extra_repr(self) -> str:
        return f"knots={self.knots}, fitted={bool(self.fitted)}"
