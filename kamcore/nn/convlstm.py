"""AttentionConvLSTM: two ConvLSTM layers over the time slices, then temporal attention.

A ConvLSTM cell (Shi et al. 2015) replaces the matrix products of an LSTM by 2-D
convolutions, so every pixel of the ``H x W`` map carries its own state:

    [i, f, o, g] = conv([x_t, h_{t-1}])          (4 C_h output channels)
    c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g)
    h_t = sigmoid(o) tanh(c_t)

Two cells are stacked (DESIGN 5: 12 and 22 hidden channels, 5x5 and 3x3 kernels).
With ``h_t`` the outputs of the last layer (the paper's ``I_hidden``) and ``h_T`` its
final state (``I_output``), the attention of the KamNet paper (eqs. 3-4) is one score
per time slice,

    e_t = sum_{c, theta, phi} h_t(c, theta, phi) W(t, c, theta) h_T(c, theta, phi)
    S(t) = softmax_t(e_t)                                  (sum_t S(t) = 1)
    context(c, theta, phi) = sum_t S(t) h_t(c, theta, phi)

(``attention="slice"``, the default).  ``W`` does not depend on ``phi``: the map wraps
in azimuth and everything after the ConvLSTM is rotation-equivariant, so a weight per
``phi`` would only teach the network the detector's azimuth; with ``W(t, c, theta)``
the scores are invariant, and the context equivariant, under rotations about z by grid
steps.  ``W`` starts at the constant ``attention_init`` (no noise), so at
initialisation ``e_t = attention_init <h_t, h_T>`` depends on the event alone: a slice
whose hidden state resembles the final one weighs more.  With the recurrence started
as an integrator (``forget_bias`` below), ``<h_t, h_T>`` grows with the hits
accumulated by slice ``t``.

Scale of the energies.  ``e_t`` sums ``C H W`` products (8 x 38 x 38 = 11,552 in the ``cpu``
preset), so printed as a plain sum a change ``dW`` moves it by ``~C H W <h h_T> dW``.  Adam steps
every weight by ~lr whatever its gradient's size: in the first ``cpu``-preset KamNet trained on
Bi214 (``attention_scale="sum"``) ``W`` of one slice moved from 0.010 to 0.034, its energy rose by
~10 over every other slice's, and the attention of *every* event sat 99.9% on that slice (measured
on 64 Bi214 events: energy spread 13.1-13.5 whatever the event).  As in scaled dot-product
attention, ``attention_scale="sqrt"`` (default) divides ``e_t`` by ``sqrt(C H W)``; this is eq. 3
with ``W`` rescaled (the same family of functions), and only the step Adam takes in ``e_t`` shrinks
by ``sqrt(C H W)``.  Checkpoints saved before the choice existed load as ``"sum"``.

``attention="cellwise"`` keeps the mechanism of the first shipped checkpoints (public
KamNet code): a separate softmax over ``t`` of ``h_t W_t h_T`` at every
``(c, theta, phi)`` with ``W (T, C, H, W)`` drawn ``U(-attention_init, attention_init)``,
context ``sum_t a_t h_t``; its reported attention is ``sum_{c,theta,phi} a_t / (C H W)``.
Checkpoints saved before the choice existed load as ``cellwise``.

Initialisation matters on sparse maps (~350 hits in 28 x 38 x 38 cells): with the
default gate biases a hit is forgotten within a few slices (``sigmoid(0) = 1/2``
per step), ``h_T`` is ~0 at most hit pixels, every energy ``e_t`` ~0 and the
attention uniform, so the context hardly depends on *when* a pixel was hit and
training does not start (measured: validation AUC 0.47-0.52 after an epoch).
``forget_bias`` (e.g. 3: ``sigmoid(3) = 0.95``) makes each cell an integrator that
keeps its hits to ``h_T``.

Speed (``kamcore.nn`` trains on CPUs).  ``fast=True`` (default) runs each layer as one
autograd node (``_ConvLSTMSequence``) with hand-written BPTT; ``fast=False`` is the plain
reference (per-step autograd, ``cat`` padding, separate gates) that the tests and
``benchmarks/bench_train.py`` compare against.  Same mathematics, other order of sums:

* states live time-major and channels-last, ``(T, B, H, W + 2p, C_in + C)``: the buffer
  holds ``[x_t, h_{t-1}]`` already wrapped in phi, so each step is ONE zero-theta-padded
  convolution with ``W = [W_x, W_h]`` (no padding copies, no per-step stacking);
* one sigmoid over all four gates: ``tanh(z_g) = 2 sigmoid(2 z_g) - 1`` with the g rows of
  ``W`` and the bias doubled (their gradients halved back);
* forward without a graph, storing only the gates and ``c_t``; backward for
  ``t = T-1 .. 0``: ``dh_t = dL/dh_t + fold(d[x, h]_{t+1})``,
  ``dc_t = dh_t o_t (1 - tanh^2 c_t) + f_{t+1} dc_{t+1}``,
  ``dz_t = [dc g, dc c_{t-1}, dh tanh c, 2 dc i] * s (1 - s)``, and per step one
  ``convolution_backward`` giving the input gradient (``fold`` = adjoint of the phi wrap) and
  the weight gradient together (one batched weight gradient over all B T pairs was
  measured no faster and needs copies);
* when training (grad enabled; scoring stays eager, so a server never waits for a compile),
  the element-wise step kernels are ``torch.compile``d for maps with ``B H W C >= 2^16``
  (``COMPILE``, env ``KAMCORE_COMPILE=0``); any compile failure falls back to eager.

Measured on the shared 2-core machine (``cpu`` preset, batch 32, Adam; load average ~7):
``bench_train.py --threads 1 2 --events 128 --reps 2`` gives 10.0 vs 15.9 events/s on one
thread (1.59x) and 1.8 vs 3.2 on two (1.75x; two threads lose on this loaded machine); in
quieter single-step runs the ratio was 1.5-2x (reference ~5 s, fast ~2-3 s per step).  The
3x target is NOT reached.  Tried: im2col + matmul for the tiny-channel convs (3-6x
slower than mkldnn), NCHW states (channels-last convs are 1.5-3x faster), eager element-wise
(compiled kernels 2-6x faster; compile ~30-70 s once, cached on disk).

Shapes: input ``(B, T, H, W)`` (hits per cell, T = 28 time slices, H = W = 38), context
``(B, C, H, W)``, attention ``(B, T)`` (fractions: each row sums to 1).  Convolutions are zero-padded in theta and
circularly padded in phi (the map wraps around in azimuth).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = ["ConvLSTMCell", "AttentionConvLSTM", "compile_for_scoring"]

log = logging.getLogger(__name__)


def _pad_sphere(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """Pad ``(..., H, W)`` circularly in W (phi) only; theta is zero-padded by the convolution."""
    pw = kw // 2
    if not pw:
        return x
    return torch.cat([x[..., -pw:], x, x[..., :pw]], dim=-1)


_CL = torch.channels_last


def _wrap_(buf: torch.Tensor, p: int, w: int) -> None:
    """Fill the ``p`` columns either side of ``buf[:, :, p:p + w]`` circularly (NHWC: phi is dim 2)."""
    if p:
        buf[:, :, :p] = buf[:, :, w:w + p]
        buf[:, :, w + p:] = buf[:, :, p:2 * p]


def _gates_forward(z: torch.Tensor, c: torch.Tensor, n: int, p: int):
    """Cell update from the gate pre-activations ``z (B, H, W, 4n)`` (g rows doubled) and ``c_{t-1}``:
    the gates ``s``, ``c_t``, ``h_t`` and ``h_t`` phi-wrapped ``(B, H, W + 2p, n)``."""
    s = torch.sigmoid(z)
    i, f, o, g2 = s.split(n, dim=-1)
    c = f * c + i * (g2 * 2 - 1)  # g = tanh(z_g) = 2 sigmoid(2 z_g) - 1
    h = o * torch.tanh(c)
    w = h.shape[2]
    return s, c, h, (torch.cat([h[:, :, w - p:], h, h[:, :, :p]], 2) if p else h)


def _fold(v: torch.Tensor, p: int) -> torch.Tensor:
    """Adjoint of the phi wrap: ``(B, H, W + 2p, C) -> (B, H, W, C)``, the halo added back circularly."""
    if not p:
        return v
    w = v.shape[2] - 2 * p
    halo = torch.cat([v[:, :, w + p:], v.new_zeros(v.shape[0], v.shape[1], w - 2 * p, v.shape[3]), v[:, :, :p]], 2)
    return v[:, :, p:p + w] + halo


def _gates_backward(dh_out, d_in, s, c, c_prev, dc_next, n: int, p: int, cin: int):
    """One step back: ``dz`` (w.r.t. the doubled-g pre-activations), ``dc_{t-1}``, and the input
    gradient of the step after (``d_in``: the conv's gradient w.r.t. its wrapped input, folded)."""
    i, f, o, g2 = s.split(n, dim=-1)
    d = _fold(d_in, p)
    dh = dh_out + d[..., cin:]
    tc = torch.tanh(c)
    dc = dh * o * (1 - tc * tc) + dc_next
    dz = torch.cat([dc * (g2 * 2 - 1), dc * c_prev, dh * tc, dc * i * 2], -1) * (s * (1 - s))
    return dz, dc * f, d[..., :cin]


class _ConvLSTMSequence(torch.autograd.Function):
    """One ConvLSTM layer over all T slices with hand-written BPTT (module docstring, "Speed").

    ``x (T, B, H, W, C_in)`` -> ``hs (T, B, H, W, C)`` (time-major, channels last).
    """

    @staticmethod
    def forward(ctx, x, wx, wh, bias, compile_ok):
        t_len, b, hgt, wid, cin = x.shape
        n, k = wh.shape[1], wh.shape[-1]
        p = k // 2
        scale = torch.ones(4 * n, dtype=x.dtype, device=x.device)
        scale[3 * n:] = 2.0  # tanh(z) = 2 sigmoid(2 z) - 1: one sigmoid over all four gates
        weight = (torch.cat([wx, wh], 1) * scale[:, None, None, None]).contiguous(memory_format=_CL)
        bias2 = bias * scale
        buf = x.new_empty(t_len, b, hgt, wid + 2 * p, cin + n)  # [x_t, h_{t-1}], phi wrapped
        buf[:, :, :, p:p + wid, :cin] = x
        buf[0, ..., cin:] = 0
        for t in range(t_len):
            _wrap_(buf[t, ..., :cin], p, wid)
        hs = x.new_empty(t_len, b, hgt, wid, n)
        fwd = _kernels(n, x, p, cin, compile_ok)[0]
        saved = []
        c = x.new_zeros(b, hgt, wid, n)
        c0 = c
        for t in range(t_len):
            z = F.conv2d(buf[t].permute(0, 3, 1, 2), weight, bias2, padding=(p, 0)).permute(0, 2, 3, 1)
            s, c, h, hp = fwd(z.contiguous(), c)
            hs[t] = h
            if t + 1 < t_len:
                buf[t + 1, ..., cin:] = hp
            if compile_ok:  # grad was enabled at the call: backward needs the gates and c_t
                saved.append((s, c))
        ctx.save_for_backward(buf, weight, scale)
        ctx.saved, ctx.zero = saved, c0
        ctx.dims, ctx.compile_ok = (cin, n, p), compile_ok
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, dhs):
        buf, weight, scale = ctx.saved_tensors
        saved, (cin, n, p) = ctx.saved, ctx.dims
        dhs = dhs.contiguous()
        t_len, b, hgt, wid, _ = dhs.shape
        need_x = ctx.needs_input_grad[0]
        dx = dhs.new_empty(t_len, b, hgt, wid, cin) if need_x else None
        bwd = _kernels(n, dhs, p, cin, ctx.compile_ok)[1]
        zero = ctx.zero
        d_in = dhs.new_zeros(b, hgt, wid + 2 * p, cin + n)
        dc_next = zero
        dw = db = None
        for t in range(t_len - 1, -1, -1):
            s, c = saved[t]
            dz, dc_next, dx_next = bwd(dhs[t], d_in, s, c, saved[t - 1][1] if t else zero, dc_next)
            if need_x and t + 1 < t_len:
                dx[t + 1] = dx_next
            # input gradient (w.r.t. the wrapped [x_t, h_{t-1}]) and this step's weight gradient in one call
            d_in_, w_, b_ = torch.ops.aten.convolution_backward(
                dz.permute(0, 3, 1, 2), buf[t].permute(0, 3, 1, 2), weight, [weight.shape[0]], [1, 1], [p, 0],
                [1, 1], False, [0, 0], 1, [bool(t) or need_x, True, True])
            if d_in_ is not None:
                d_in = d_in_.permute(0, 2, 3, 1)
            dw, db = (w_, b_) if dw is None else (dw.add_(w_), db.add_(b_))
        if need_x:
            dx[0] = _fold(d_in, p)[..., :cin]
        dw = dw * scale[:, None, None, None]
        return dx, dw[:, :cin], dw[:, cin:], db * scale, None


#: compile the element-wise step kernels with torch.compile (env KAMCORE_COMPILE=0: never); any
#: failure (no C++ compiler, ...) falls back to eager for the process
COMPILE = os.environ.get("KAMCORE_COMPILE", "1") != "0"
#: compile only for maps at least this large (B H W n): small shapes (tests) are not worth a compile
COMPILE_MIN_NUMEL = 1 << 16
_KERNELS: dict = {}
_COMPILE_FAILED = False


def _eager_kernels(n: int, p: int, cin: int):
    return (lambda z, c: _gates_forward(z, c, n, p),
            lambda *a: _gates_backward(*a, n, p, cin))


def _kernels(n: int, like: torch.Tensor, p: int, cin: int, compile_ok: bool = True):
    """The element-wise forward / backward of one step for ``n`` hidden channels, kernel half-width ``p``;
    compiled only when ``compile_ok`` (training: scoring never waits for a compile).  Scoring uses
    the kernels :func:`compile_for_scoring` made, once they are ready, else eager ones."""
    if not compile_ok:
        ready = _SCORING_KERNELS.get((n, p, cin))
        if ready is not None and like.device.type == "cpu" and not _COMPILE_FAILED:
            return ready, None
        return _eager_kernels(n, p, cin)
    big = like[0].numel() // max(like.shape[-1], 1) * n >= COMPILE_MIN_NUMEL
    if not (COMPILE and big and not _COMPILE_FAILED and like.device.type == "cpu"):
        return _eager_kernels(n, p, cin)
    key = (n, p, cin)
    if key not in _KERNELS:
        opts = dict(dynamic=False, fullgraph=True)
        _KERNELS[key] = tuple(_guarded(torch.compile(k, **opts), k) for k in _eager_kernels(*key))
    return _KERNELS[key]


def _guarded(compiled, eager):
    def call(*args):
        global _COMPILE_FAILED
        if not _COMPILE_FAILED:
            try:
                return compiled(*args)
            except Exception as err:  # noqa: BLE001 - any backend failure: eager from now on
                _COMPILE_FAILED = True
                warnings.warn(f"torch.compile of the ConvLSTM step failed ({type(err).__name__}: {err}); eager", stacklevel=2)
        return eager(*args)
    return call


#: (n, p, cin) -> the scoring forward kernel, compiled for any batch size (dynamic shapes) and checked
_SCORING_KERNELS: dict = {}
_SCORING_LOCK = threading.Lock()


def _compile_scoring_kernels(shapes, height: int, width: int) -> int:
    """Compile, check against eager and register the scoring kernel of each ``(n, p, cin)``; returns
    how many were registered (a failure or a mismatch leaves that shape eager, with a warning)."""
    done = 0
    for n, p, cin in shapes:
        key = (n, p, cin)
        if key in _SCORING_KERNELS:
            done += 1
            continue
        eager = _eager_kernels(n, p, cin)[0]
        try:
            compiled = torch.compile(eager, dynamic=True, fullgraph=True)
            gen = torch.Generator().manual_seed(0)
            for b in (2, 3):  # two batch sizes: the graph is dynamic from the first call, checked on both
                z = torch.randn(b, height, width, 4 * n, generator=gen)
                c = torch.randn(b, height, width, n, generator=gen)
                for got, want in zip(compiled(z, c), eager(z, c)):
                    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        except Exception as err:  # noqa: BLE001 - no compiler, backend failure, mismatch: stay eager
            log.warning("scoring kernels of the ConvLSTM stay eager: %s", " ".join(str(err).split())[:300])
            continue
        with _SCORING_LOCK:
            _SCORING_KERNELS[key] = _guarded(compiled, eager)  # a later failure: eager from then on
        done += 1
    return done


def compile_for_scoring(module: nn.Module, *, block: bool = False) -> threading.Thread | None:
    """Compile the element-wise step kernels of every :class:`AttentionConvLSTM` in ``module`` for scoring.

    For long-lived scorers (``kamcore monitor``): the element-wise kernels are ~60% of eager
    scoring time on one CPU thread, but the compile takes ~20-50 s once (cached on disk by torch
    afterwards); ``benchmarks/bench_kamnet.py`` prints the compiled/eager ratio side by side.  With ``block=False`` it runs in a daemon
    thread and scoring stays eager until the kernels are ready and checked against eager
    (same result to float32 rounding); one-shot scoring (``kamcore score``) does not call this.
    Returns the thread (None when ``block`` or nothing to compile; ``COMPILE`` off: nothing).
    """
    shapes, size = [], None
    for m in module.modules():
        if isinstance(m, AttentionConvLSTM) and m.fast:
            size = (m.height, m.width)
            cin = m.cells[0].in_channels
            for cell in m.cells:
                shapes.append((cell.hidden_channels, cell.kernel_size // 2, cin))
                cin = cell.hidden_channels
    if not (COMPILE and shapes):
        return None
    if block:
        _compile_scoring_kernels(shapes, *size)
        return None
    th = threading.Thread(target=_compile_scoring_kernels, args=(shapes, *size), name="kamcore-compile", daemon=True)
    th.start()
    return th


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell.

    The gate convolution of ``[x_t, h_{t-1}]`` is split into an input part, which
    does not depend on the recurrence and is computed for all time slices in one
    batched call (:meth:`input_gates`), and a recurrent part on ``h_{t-1}`` alone.

    Parameters
    ----------
    in_channels, hidden_channels : int
    kernel_size : int, odd
    fast : bool
        Recorded only: :meth:`step` is always the reference formula; the fast whole-sequence
        path is :class:`AttentionConvLSTM`'s (``fast=True``).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int, forget_bias: float = 0.0,
                 fast: bool = True):
        super().__init__()
        self.fast = fast
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.in_channels, self.hidden_channels, self.kernel_size = in_channels, hidden_channels, kernel_size
        pad = (kernel_size // 2, 0)  # zeros in theta; phi is wrapped by _pad_sphere
        self.conv_x = nn.Conv2d(in_channels, 4 * hidden_channels, kernel_size, padding=pad, bias=True)
        self.conv_h = nn.Conv2d(hidden_channels, 4 * hidden_channels, kernel_size, padding=pad, bias=False)
        if forget_bias:
            with torch.no_grad():  # gate order i, f, o, g: start remembering (module docstring)
                self.conv_x.bias.zero_()
                self.conv_x.bias[hidden_channels:2 * hidden_channels] = float(forget_bias)

    def input_gates(self, x: torch.Tensor) -> torch.Tensor:
        """Input part of the gates for a whole sequence: ``(B, T, C_in, H, W) -> (B, T, 4 C_h, H, W)``."""
        b, t = x.shape[:2]
        flat = x.flatten(0, 1)
        pad = _pad_sphere(flat, self.kernel_size, self.kernel_size)
        z = self.conv_x(pad)
        return z.unflatten(0, (b, t))

    def step(self, gates_x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step from precomputed input gates ``(B, 4 C_h, H, W)`` and ``(h, c)``."""
        h, c = state
        z = gates_x + self.conv_h(_pad_sphere(h, self.kernel_size, self.kernel_size))
        i, f, o, g = torch.split(z, self.hidden_channels, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, C_in, H, W)``, ``state = (h, c)`` each ``(B, C_h, H, W)`` -> new ``(h, c)``."""
        return self.step(self.input_gates(x.unsqueeze(1)).squeeze(1), state)

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.hidden_channels}, kernel {self.kernel_size}"


class AttentionConvLSTM(nn.Module):
    """Stacked ConvLSTM over time slices with KamNet's temporal attention.

    Parameters
    ----------
    hidden_channels : sequence of int
        Hidden channels per layer (paper: ``(12, 22)``).
    kernel_sizes : sequence of int
        Kernel size per layer (paper: ``(5, 3)``).
    n_time : int
        Number of time slices T (28).
    height, width : int
        Map size (38, 38).
    in_channels : int
        Channels per time slice of the input (1: hit counts).
    attention_init : float
        ``"slice"``: the constant the weights ``W (T, C, H, 1)`` start at; ``"cellwise"``:
        weights ``W (T, C, H, W)`` start uniform in ``(-attention_init, attention_init)``.
    forget_bias : float
        Initial bias of the forget gates (0: PyTorch's default initialisation).
    attention : {"slice", "cellwise"}
        The paper's eqs. 3-4 (one score per slice) or the first checkpoints' mechanism.
    attention_scale : {"sqrt", "sum"}
        ``"slice"`` only: energies divided by ``sqrt(C H W)`` (default) or the plain sum of eq. 3
        (the first slice checkpoints; module docstring, "Scale of the energies").
    fast : bool
        One autograd node per layer with hand-written BPTT (module docstring, "Speed"); ``False``:
        the reference per-step formulation.
    """

    def __init__(self, hidden_channels=(12, 22), kernel_sizes=(5, 3), n_time: int = 28, height: int = 38,
                 width: int = 38, in_channels: int = 1, attention_init: float = 0.1, forget_bias: float = 0.0,
                 attention: str = "slice", fast: bool = True, attention_scale: str = "sqrt"):
        super().__init__()
        if attention not in ("slice", "cellwise"):
            raise ValueError(f"attention must be 'slice' or 'cellwise', got {attention!r}")
        if attention_scale not in ("sqrt", "sum"):
            raise ValueError(f"attention_scale must be 'sqrt' or 'sum', got {attention_scale!r}")
        self.attention, self.fast, self.attention_scale = attention, fast, attention_scale
        hidden_channels, kernel_sizes = list(hidden_channels), list(kernel_sizes)
        if len(hidden_channels) != len(kernel_sizes) or not hidden_channels:
            raise ValueError(f"need one kernel size per layer, got {hidden_channels} and {kernel_sizes}")
        ins = [in_channels] + hidden_channels[:-1]
        self.cells = nn.ModuleList(ConvLSTMCell(i, h, k, forget_bias, fast=fast)
                                   for i, h, k in zip(ins, hidden_channels, kernel_sizes))
        self.n_time, self.height, self.width = n_time, height, width
        self.out_channels = hidden_channels[-1]
        #: divisor of the slice energies: sqrt(C H W) ("sqrt") or 1 ("sum", eq. 3 as printed)
        self.energy_divisor = (self.out_channels * height * width) ** 0.5 if attention_scale == "sqrt" else 1.0
        if attention == "slice":
            self.attention_weight = nn.Parameter(torch.full((n_time, self.out_channels, height, 1), float(attention_init)))
        else:
            self.attention_weight = nn.Parameter(
                torch.empty(n_time, self.out_channels, height, width).uniform_(-attention_init, attention_init))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Context ``(B, C, H, W)`` and attention per time slice ``(B, T)`` of maps ``x (B, T, H, W)``.

        ``x`` may also be ``(B, T, C_in, H, W)``.
        """
        if x.dim() == 4:
            x = x.unsqueeze(2)  # (B, T, 1, H, W)
        b, t, _, hgt, wid = x.shape
        if t != self.n_time or (hgt, wid) != (self.height, self.width):
            raise ValueError(f"expected input (B, {self.n_time}, {self.height}, {self.width}), got {tuple(x.shape)}")
        if self.fast:  # time-major channels-last through both layers, one autograd node per layer
            seq = x.permute(1, 0, 3, 4, 2)  # (T, B, H, W, C_in)
            for cell in self.cells:
                seq = _ConvLSTMSequence.apply(seq, cell.conv_x.weight, cell.conv_h.weight, cell.conv_x.bias,
                                              torch.is_grad_enabled())  # compile for training only
            return self._attend_time_major(seq)
        seq = x
        for cell in self.cells:
            gates = cell.input_gates(seq)  # (B, T, 4C, H, W), all slices at once
            h = x.new_zeros(b, cell.hidden_channels, hgt, wid)
            c = torch.zeros_like(h)
            outs = []
            for g_k in gates.unbind(1):  # unbind: its backward stacks, no zero-filled copy per step
                h, c = cell.step(g_k, (h, c))
                outs.append(h)
            seq = torch.stack(outs, dim=1)  # (B, T, C, H, W)
        h_last = outs[-1].unsqueeze(1)  # (B, 1, C, H, W)
        return self._attend(seq, h_last)

    def _attend_time_major(self, hs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_attend` on ``h_t`` stored ``(T, B, H, W, C)``: the same sums, in the fast path's layout."""
        h_last = hs[-1:]
        if self.attention == "slice":
            overlap = (hs * h_last).sum(dim=3)  # (T, B, H, C): sum over phi
            energy = torch.einsum("tbhc,tch->bt", overlap, self.attention_weight[..., 0]) / self.energy_divisor
            score = torch.softmax(energy, dim=1)
            context = torch.einsum("bt,tbhwc->bchw", score, hs)
            return context, score
        weight = self.attention_weight.permute(0, 2, 3, 1).unsqueeze(1)  # (T, 1, H, W, C)
        score = torch.softmax(hs * weight * h_last, dim=0)
        context = (score * hs).sum(dim=0).permute(0, 3, 1, 2)
        return context, score.mean(dim=(2, 3, 4)).transpose(0, 1)

    def _attend(self, seq: torch.Tensor, h_last: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Context and attention from the last layer's ``h_t`` ``(B, T, C, H, W)`` and ``h_T`` ``(B, 1, C, H, W)``."""
        if self.attention == "slice":  # eqs. 3-4: one score per slice
            overlap = (seq * h_last).sum(dim=-1)  # (B, T, C, H): sum over phi (W has no phi)
            energy = (overlap * self.attention_weight[..., 0]).sum(dim=(2, 3)) / self.energy_divisor  # (B, T)
            score = torch.softmax(energy, dim=1)
            context = torch.einsum("bt,btchw->bchw", score, seq)
            return context, score
        energy = seq * self.attention_weight.unsqueeze(0) * h_last  # (B, T, C, H, W)
        score = torch.softmax(energy, dim=1)
        context = (score * seq).sum(dim=1)  # (B, C, H, W)
        attention = score.mean(dim=(2, 3, 4))  # (B, T), sums to 1
        return context, attention
