"""Sampling generated events fast: trigger draws, then t and q of the triggered PMTs only."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from .decoder import PMTDecoder
from .scaler import PointCloudScaler

if TYPE_CHECKING:
    from .calibration import OutputCalibration


class HitSample(NamedTuple):
    """Generated events as flat host arrays (the layout of :class:`kamcore.events.Events`).

    ``counts (n,) int64`` hits per event; ``pmt (H,) int16`` PMT index; ``t_ns``, ``q_pe``
    ``(H,) float32``; hits ordered by event, then PMT.
    """

    counts: np.ndarray
    pmt: np.ndarray
    t_ns: np.ndarray
    q_pe: np.ndarray


#: events decoded together by :func:`sample_hits` (the per-chunk activations, ~23 kB per
#: event for P = 1879, stay in the core's cache; measured best between 128 and 512)
SAMPLE_CHUNK = 256

#: the trigger draws resolve probabilities in steps of 1 / TRIGGER_LEVELS (see :class:`TriggerDraws`)
TRIGGER_LEVELS = 1 << 16


class TriggerDraws:
    """Bernoulli trigger bits from 16-bit random integers.

    For trigger probabilities ``p (c, P)`` and integers ``k`` drawn uniformly from
    ``0 .. 2^16 - 1``,

        trigger[b, p] = (k[b, p] + 1/2) / 2^16 < p[b, p],

    a Bernoulli draw whose probability is ``p`` rounded to the nearest multiple of
    ``2^-16`` (error at most ``2^-17 = 7.6e-6`` per PMT; over 1879 PMTs at most 0.014
    hits per event, and as often up as down).  On the CPU the integers come from
    numpy's SFC64 bit generator, seeded by one 62-bit draw of the torch ``generator``
    when the object is made, four per 64-bit word (``ceil(P / 4)`` words per event,
    so drawing in chunks of any size gives the same integers): ~0.5 ns per PMT, where
    ``torch.rand`` (Mersenne twister, one 32-bit word per number) costs ~3.5 ns, a
    quarter of the whole sampling time of a rank-64 decoder.  On other devices
    ``torch.randint`` draws them there from ``generator``.

    Parameters
    ----------
    generator : torch.Generator or None
        ``None``: torch's default generator (seeded by ``torch.manual_seed``).
    device : torch.device or str

    Examples
    --------
    >>> draws = TriggerDraws(torch.Generator().manual_seed(0), "cpu")
    >>> bits = draws(torch.full((2000, 3), 0.25))
    >>> bits.shape, bits.dtype, bool(0.23 < bits.mean() < 0.27)
    ((2000, 3), dtype('bool'), True)
    """

    def __init__(self, generator: torch.Generator | None, device: torch.device | str):
        self.device = torch.device(device)
        self.generator = generator
        self._bits = None
        if self.device.type == "cpu":
            seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            self._bits = np.random.SFC64(seed)

    def levels(self, n: int, n_pmts: int) -> np.ndarray | torch.Tensor:
        """The next ``k (n, P)``: a uint16 array (a view, row stride ``4 ceil(P / 4)``) on the CPU, else an int32 tensor."""
        if self._bits is None:
            return torch.randint(0, TRIGGER_LEVELS, (n, n_pmts), generator=self.generator, device=self.device,
                                 dtype=torch.int32)
        words = (n_pmts + 3) // 4
        return self._bits.random_raw(n * words).view(np.uint16).reshape(n, 4 * words)[:, :n_pmts]

    def __call__(self, prob: torch.Tensor, out: np.ndarray | None = None) -> np.ndarray:
        """Trigger bits ``(c, P)`` bool on the host for probabilities ``prob (c, P)``, which is overwritten."""
        k = self.levels(*prob.shape)
        # k + 1/2 < 2^16 p  <=>  k < 2^16 p - 1/2, in one pass: -1/2 + 2^16 p
        thresh = torch.add(prob.new_full((), -0.5), prob, alpha=TRIGGER_LEVELS, out=prob)
        if self._bits is None:
            return torch.lt(k, thresh).cpu().numpy()
        return np.less(k, thresh.numpy(), out=out)


@torch.no_grad()
def sample_hits(decoder: PMTDecoder, scaler: PointCloudScaler, calibration: "OutputCalibration | None",
                z: torch.Tensor, generator: torch.Generator | None = None, *, chunk: int = SAMPLE_CHUNK
                ) -> HitSample:
    """Decode latents into triggered hits, evaluating ``t`` and ``q`` of the hits only.

    For every event ``b`` and PMT ``p`` (``raw = decoder(z)``, ``k`` the integers of
    :class:`TriggerDraws` made from ``generator``):

        trigger[b, p] = (k[b, p] + 1/2) / 2^16 < sigmoid(raw[b, p, 0])       (a Bernoulli draw)
        t_ns = unscale_t(cal_t(raw[b, p, 1])),  q_pe = unscale_q(cal_q(raw[b, p, 2]))   (triggered only)

    which is :meth:`PMTDecoder.forward` (with its skip path to the logits), a Bernoulli draw and
    :meth:`OutputCalibration.forward` / :meth:`PointCloudScaler.output_points` on the kept
    PMTs, computed in chunks of ``chunk`` events whose working arrays stay in the core's
    cache: the trigger probabilities as one contiguous ``(chunk, P)`` product
    (:meth:`PMTDecoder.split_output`), the draw and one ``nonzero`` over the bits (numpy on
    the host, the bits are copied there from any device), ``t_hat`` and ``q_hat`` as one
    ``(chunk, P)`` product each, gathered at the hits (the hidden layers run on blocks of
    ``4 chunk`` events), then the calibration, the inverse scaling and ``exp`` of
    ``log q`` in one table look-up per quantity (:meth:`OutputCalibration.table`; the
    products give table positions directly, :func:`_readout`), which reads the
    calibrated value at most half a table spacing away.

    Parameters
    ----------
    decoder : PMTDecoder
        In eval mode.
    scaler : PointCloudScaler
        Fitted; its inverse transform gives ns and p.e.
    calibration : OutputCalibration or None
    z : (n, L) tensor
        Latent vectors (model dtype and device).
    generator : torch.Generator, optional
        Source of the trigger draws (on ``z``'s device).
    chunk : int
        Events decoded together (does not change the result beyond float rounding).

    Returns
    -------
    HitSample
    """
    n, n_pmts = z.shape[0], decoder.n_pmts
    w_logit, b_logit, w_t, b_t, w_q, b_q = decoder.split_output()
    # the scaler's inverse, t_ns = sigma_t t_hat + mu_t and log q_pe = sigma_lq q_hat + mu_lq
    scale = (float(scaler.t_std_ns), float(scaler.logq_std))
    shift = (float(scaler.t_mean_ns), float(scaler.logq_mean))
    w_t, b_t, read_t = _readout(calibration, "t", w_t, b_t, scale[0], shift[0])
    w_q, b_q, read_q = _readout(calibration, "q", w_q, b_q, scale[1], shift[1], exp=True)
    draws = TriggerDraws(generator, z.device)
    chunk = max(1, min(int(chunk), n))
    block = 4 * chunk   # the hidden layers run faster on larger batches than the wide output products
    # working arrays, reused by every chunk (no page faults from fresh allocations)
    p_buf, t_buf, q_buf = (z.new_empty(chunk, n_pmts) for _ in range(3))
    bits_buf = np.empty((chunk, n_pmts), bool)
    parts: list[tuple[np.ndarray, ...]] = []
    for a in range(0, n, chunk):
        if a % block == 0:
            features = decoder.features(z[a:a + block])                            # (<= block, K)
        f = features[a % block:a % block + chunk]                                    # (c, K)
        c = f.shape[0]
        prob = torch.addmm(b_logit, f, w_logit, out=p_buf[:c])                  # (c, P) trigger logits
        if decoder.skip:                                                           # + x[:, -skip:] @ W_skip
            prob.addmm_(z[a:a + c, -decoder.skip:], decoder.skip_weight)
        prob.sigmoid_()                                                            # trigger probability
        trigger = draws(prob, out=bits_buf[:c])                                    # (c, P) bool, host
        flat = np.flatnonzero(trigger)                                             # (H,) b P + p, sorted
        at = torch.from_numpy(flat).to(z.device)
        t_ns = read_t(torch.addmm(b_t, f, w_t, out=t_buf[:c]).view(-1).index_select(0, at))   # (H,)
        q_pe = read_q(torch.addmm(b_q, f, w_q, out=q_buf[:c]).view(-1).index_select(0, at))
        ends = np.searchsorted(flat, np.arange(1, c + 1, dtype=np.int64) * n_pmts)  # hits before event b + 1
        pmt = flat.astype(np.int32) if c * n_pmts < 2**31 else flat.copy()        # int32 division is ~3x faster
        parts.append((np.diff(ends, prepend=0), np.remainder(pmt, n_pmts, out=pmt).astype(np.int16),
                      t_ns.float().cpu().numpy(), q_pe.float().cpu().numpy()))
    if not parts:
        return HitSample(np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.float32),
                         np.zeros(0, np.float32))
    if len(parts) == 1:
        return HitSample(*parts[0])
    return HitSample(*(np.concatenate(col) for col in zip(*parts)))


def _readout(calibration: "OutputCalibration | None", name: str, w: torch.Tensor, b: torch.Tensor,
             scale: float, shift: float, exp: bool = False):
    """Output weights folded with the map to hits, and the read-out: ``(w', b', read)``.

    For features ``f``, ``read(f @ w' + b')`` is ``g(scale * cal(f @ w + b) + shift)``
    (``g = exp`` when ``exp``, ``cal`` the calibration map ``name``): with a fitted
    calibration, ``f @ w' + b'`` is the position in its table
    (:meth:`OutputCalibration.table`, ``a + s x`` folded into ``w`` and ``b``) and ``read``
    the look-up; without, the affine map is folded in and ``read`` is ``exp`` or nothing.
    One pass less over the hits per map than evaluating them after the product.
    """
    if calibration is not None and bool(calibration.fitted):
        values, a, s, top = calibration.table(name, w, scale, shift, exp)

        def read(pos: torch.Tensor) -> torch.Tensor:
            return values.index_select(0, pos.clamp_(0.0, top).to(torch.int32))   # floor = nearest point
        return w * s, b * s + a, read
    return w * scale, b * scale + shift, (torch.exp_ if exp else (lambda x: x))
