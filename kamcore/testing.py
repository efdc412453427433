"""Test helpers: equivariance checks and per-dtype tolerances.

``assert_equivariant(fn, x, transform_in, transform_out)`` compares ``fn(transform_in(x))``
with ``transform_out(fn(x))`` and fails with a readable message (the helper hides itself
from pytest tracebacks).  The transforms are usually rotations of sampled signals from
:mod:`kamcore.nn.rotation`, e.g. ``lambda x: rotate_s2_grid(x, Q)``.  Errors are relative:
``max |a - b| / max |b|``.

:data:`FLOAT_TOLERANCE` gives the tolerance per dtype; the ``float_dtype`` pytest fixture
(re-export it from a ``conftest.py``) runs a test once in float32 and once in float64.

Examples
--------
>>> import torch
>>> x = torch.randn(4, dtype=torch.float64)
>>> err = assert_equivariant(torch.sin, x, torch.neg, torch.neg)   # sin is odd
>>> err < FLOAT_TOLERANCE[torch.float64]
True
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable

import torch

__all__ = [
    "FLOAT_TOLERANCE", "tolerance", "relative_error", "equivariance_error", "assert_equivariant",
    "random_s2_signal", "random_so3_signal", "float_dtype",
]

#: Relative tolerance of equivariance and round-trip checks, per dtype (read-only).
FLOAT_TOLERANCE = MappingProxyType({
    torch.float32: 1e-4,
    torch.float64: 1e-10,
    torch.complex64: 1e-4,
    torch.complex128: 1e-10,
})


def tolerance(dtype: torch.dtype) -> float:
    """Relative tolerance for ``dtype`` (float32/complex64 ``1e-4``, float64/complex128 ``1e-10``)."""
    try:
        return FLOAT_TOLERANCE[dtype]
    except KeyError:
        raise ValueError(f"no tolerance defined for dtype {dtype}; expected one of "
                         f"{sorted(str(d) for d in FLOAT_TOLERANCE)}") from None


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b| / max |b|`` (absolute error if ``b`` is zero)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    scale = b.abs().max().item() if b.numel() else 0.0
    err = (a - b).abs().max().item() if a.numel() else 0.0
    return err / scale if scale > 0 else err


def equivariance_error(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                       transform_in: Callable[[torch.Tensor], torch.Tensor],
                       transform_out: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """Relative error ``max |fn(T_in x) - T_out fn(x)| / max |T_out fn(x)|``."""
    with torch.no_grad():
        return relative_error(fn(transform_in(x)), transform_out(fn(x)))


def assert_equivariant(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                       transform_in: Callable[[torch.Tensor], torch.Tensor],
                       transform_out: Callable[[torch.Tensor], torch.Tensor], *,
                       tol: float | None = None, what: str | None = None) -> float:
    """Assert ``fn(transform_in(x)) == transform_out(fn(x))`` within a relative tolerance.

    Parameters
    ----------
    fn : callable
        The map under test (a layer, a transform).
    x : torch.Tensor
        Input; its dtype picks the default tolerance.
    transform_in, transform_out : callable
        The group action on the input and on the output (use ``lambda y: y`` for invariance).
    tol : float, optional
        Relative tolerance; default :func:`tolerance` of ``x.dtype``.
    what : str, optional
        Name used in the failure message (default ``repr(fn)``).

    Returns
    -------
    float
        The relative error, for reporting.

    Raises
    ------
    AssertionError
        If the error exceeds ``tol``.
    """
    __tracebackhide__ = True
    tol = tolerance(x.dtype) if tol is None else tol
    err = equivariance_error(fn, x, transform_in, transform_out)
    if not err <= tol:
        name = what or repr(fn)
        raise AssertionError(f"{name} is not equivariant: relative error {err:.3e} > tolerance {tol:.1e} "
                             f"(input {tuple(x.shape)} {x.dtype})")
    return err


def random_s2_signal(*shape: int, b: int, n_l: int | None = None, generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """Random real signal on the S2 grid of bandwidth ``b``, band-limited to ``n_l`` (default ``b``).

    Returns ``shape + (2b, 2b)``: white noise projected onto degrees ``l < n_l``, so that
    spectral rotations and the forward transform are exact for it.
    """
    from kamcore.nn import s2_fft, s2_ifft

    x = torch.randn(*shape, 2 * b, 2 * b, generator=generator, dtype=torch.float64)
    return s2_ifft(s2_fft(x, n_l or b), b).to(dtype=dtype, device=device)


def random_so3_signal(*shape: int, b: int, n_l: int | None = None, generator: torch.Generator | None = None,
                      dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """Random real signal on the SO(3) grid of bandwidth ``b``, band-limited to ``n_l`` (default ``b``).

    Returns ``shape + (2b, 2b, 2b)``.
    """
    from kamcore.nn import so3_fft, so3_ifft

    x = torch.randn(*shape, 2 * b, 2 * b, 2 * b, generator=generator, dtype=torch.float64)
    return so3_ifft(so3_fft(x, n_l or b), b).to(dtype=dtype, device=device)


try:  # the fixture exists only where pytest is installed (tests), never needed at runtime
    import pytest
except ImportError:  # pragma: no cover
    float_dtype = None
else:
    @pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
    def float_dtype(request) -> torch.dtype:
        """Run the test once in float32 and once in float64 (tolerance: :func:`tolerance`)."""
        return request.param
