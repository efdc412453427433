"""Small private helpers shared by the spherical layers (dtype mapping, input checks)."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import torch

from kamcore.errors import ConfigError

from .grid import _check_bandwidth

_COMPLEX = MappingProxyType({torch.float32: torch.complex64, torch.float64: torch.complex128})
_REAL = MappingProxyType({torch.complex64: torch.float32, torch.complex128: torch.float64})


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """The complex dtype matching a real floating dtype (complex dtypes pass through)."""
    if dtype.is_complex:
        return dtype
    try:
        return _COMPLEX[dtype]
    except KeyError:
        raise ConfigError(f"expected a float32 or float64 tensor, got dtype {dtype}") from None


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real dtype matching a complex dtype (real dtypes pass through)."""
    return _REAL.get(dtype, dtype)


def table(arr: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """A float64 numpy table as a new tensor with the real dtype and device of ``like``."""
    return torch.tensor(arr, dtype=real_dtype(like.dtype), device=like.device)


def as_complex(t: torch.Tensor) -> torch.Tensor:
    """``[..., 2]`` real pairs -> ``[...]`` complex view."""
    return torch.view_as_complex(t)


def grid_bandwidth(x: torch.Tensor, n_axes: int, name: str) -> int:
    """Bandwidth ``b`` of a ``[..., 2b, 2b(, 2b)]`` grid tensor, or a readable error."""
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    shape = tuple(x.shape[-n_axes:]) if x.dim() >= n_axes else tuple(x.shape)
    if x.dim() < n_axes or len(set(shape)) != 1 or shape[0] % 2 or shape[0] == 0:
        axes = ", ".join(["2b"] * n_axes)
        raise ConfigError(f"{name} must have shape [..., {axes}] (SOFT grid, even sides), got {tuple(x.shape)}")
    if x.dtype not in _COMPLEX and x.dtype not in _REAL:
        raise ConfigError(f"{name} must be float32/float64 (or complex64/128), got dtype {x.dtype}")
    return shape[0] // 2


def spectrum_bandwidth(c: torch.Tensor, n_m_axes: int, name: str) -> int:
    """Bandwidth ``L`` of padded coefficients ``[..., L, 2L-1(, 2L-1)]``, or a readable error."""
    if not isinstance(c, torch.Tensor) or not c.is_complex() or c.dim() < n_m_axes + 1:
        got = f"dtype {c.dtype} shape {tuple(c.shape)}" if isinstance(c, torch.Tensor) else type(c).__name__
        raise ConfigError(f"{name} must be a complex tensor [..., L{', 2L-1' * n_m_axes}], got {got}")
    L = c.shape[-n_m_axes - 1]
    if L < 1 or any(s != 2 * L - 1 for s in c.shape[-n_m_axes:]):
        raise ConfigError(f"{name} must have shape [..., L{', 2L-1' * n_m_axes}], got {tuple(c.shape)}")
    return L


def analysis_bandwidths(x: torch.Tensor, n_axes: int, b_out: int | None) -> tuple[int, int, int]:
    """``(b_in, L, Le)`` of a forward transform of the grid signal ``x`` (:func:`~kamcore.nn.s2_fft`, ...).

    ``b_in`` is the bandwidth of the ``[..., 2b_in(, 2b_in, 2b_in)]`` grid, ``L`` the requested
    spectrum bandwidth (``b_out``, default ``b_in``) and ``Le = min(L, b_in)`` the number of
    degrees computed; degrees ``Le <= l < L`` are zero.
    """
    b_in = grid_bandwidth(x, n_axes, "x")
    L = b_in if b_out is None else _check_bandwidth(b_out, "b_out")
    return b_in, L, min(L, b_in)


def synthesis_bandwidths(c: torch.Tensor, n_m_axes: int, b_out: int | None) -> tuple[int, int, int]:
    """``(L, b, Le)`` of an inverse transform of the padded spectrum ``c`` (:func:`~kamcore.nn.s2_ifft`, ...).

    ``L`` is the bandwidth of the ``[..., L, 2L-1(, 2L-1)]`` spectrum, ``b`` the requested
    grid bandwidth (``b_out``, default ``L``) and ``Le = min(L, b)`` the number of degrees
    evaluated; degrees ``l >= b`` are dropped.
    """
    L = spectrum_bandwidth(c, n_m_axes, "c")
    b = L if b_out is None else _check_bandwidth(b_out, "b_out")
    return L, b, min(L, b)


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)
    return arr


def block_indices(n_l: int) -> tuple[np.ndarray, np.ndarray]:
    """Row maps between the padded ``[2L-1 (m), L (n >= 0), L (l)]`` layout and the packed one.

    ``gather[s]`` is the padded row of packed row ``s`` (blocks ``l = 0 .. L-1``, each
    ``(2l+1) x (l+1)`` in ``(m, n)`` order); ``scatter[r]`` is the packed row of padded row
    ``r``, or ``S`` (one past the end, a zero row) where ``|m| > l`` or ``n > l``.
    """
    c = n_l - 1
    size = (2 * n_l - 1) * n_l * n_l
    gather = []
    for l in range(n_l):
        for m in range(-l, l + 1):
            for n in range(l + 1):
                gather.append(((m + c) * n_l + n) * n_l + l)
    gather = np.asarray(gather, dtype=np.int64)
    scatter = np.full(size, len(gather), dtype=np.int64)
    scatter[gather] = np.arange(len(gather))
    return gather, scatter


def register_tables(module: torch.nn.Module, tables: dict[str, np.ndarray]) -> None:
    """Register float64 numpy tables as non-persistent buffers (they follow ``.to()``, not saved)."""
    for name, arr in tables.items():
        module.register_buffer(name, torch.tensor(np.asarray(arr), dtype=torch.float64), persistent=False)


def check_input(x: torch.Tensor, channels: int, b: int, n_axes: int, dtype: torch.dtype, layer: str) -> None:
    """Readable error unless ``x`` is ``(B, channels, 2b, ...)`` with ``n_axes`` grid axes and ``dtype``."""
    side = ", ".join([str(2 * b)] * n_axes)
    if (not isinstance(x, torch.Tensor) or x.dim() != 2 + n_axes or x.shape[1] != channels
            or tuple(x.shape[2:]) != (2 * b,) * n_axes):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ConfigError(f"{layer} expects input (B, {channels}, {side}), got {got}")
    if x.dtype != dtype:
        raise ConfigError(f"{layer} has {dtype} parameters but the input is {x.dtype}; "
                          f"convert one of them (e.g. layer.to({x.dtype}))")
