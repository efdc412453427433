"""The PMT table: positions and types of the 1879 KamLAND PMTs.

No public table of the real positions exists, so the shipped table
(``assets/pmt_positions.csv``) is a deterministic near-uniform layout (DESIGN 2,
"choice"): a Fibonacci sphere of ``P = 1879`` points on a sphere of radius
``R = 900 cm``, point ``i`` at

    z_i = 1 - (2 i + 1) / P,   phi_i = i * pi * (3 - sqrt 5),

with 554 of them (spread evenly along the spiral, so evenly over the sphere)
20-inch PMTs and the other 1325 17-inch PMTs.  A user with the real table loads
theirs with :func:`load_pmt_table` (same columns: ``pmt_id,x_cm,y_cm,z_cm,type``,
``type`` one of ``17in``/``20in``).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from .._assets import asset_path
from ..errors import GeometryError

__all__ = [
    "PMTTable",
    "load_pmt_table",
    "default_pmt_table",
    "fibonacci_pmt_table",
    "N_PMTS",
    "N_PMTS_17IN",
    "N_PMTS_20IN",
    "PMT_RADIUS_CM",
    "DEFAULT_PMT_TABLE",
]

N_PMTS = 1879  #: DESIGN 2
N_PMTS_17IN = 1325  #: DESIGN 2, 22% photocoverage
N_PMTS_20IN = 554  #: DESIGN 2, 12% photocoverage
PMT_RADIUS_CM = 900.0  #: DESIGN 2, radius of the PMT sphere

#: the shipped table (``assets/pmt_positions.csv``)
DEFAULT_PMT_TABLE = asset_path("pmt_positions.csv")
COLUMNS = ("pmt_id", "x_cm", "y_cm", "z_cm", "type")
TYPES = ("17in", "20in")


class PMTTable:
    """PMT positions (cm) and types.

    Parameters
    ----------
    xyz_cm : (P, 3) float64
        PMT photocathode centres, cm, detector frame (origin at the centre).
    is_20in : (P,) bool
        True for the 20-inch PMTs (poorer timing), False for the 17-inch ones.
    source : str
        Where the table came from (file path or a description), for messages.
    """

    def __init__(self, xyz_cm: np.ndarray, is_20in: np.ndarray, source: str = "<memory>"):
        self.xyz_cm = np.array(xyz_cm, dtype=np.float64, order="C").reshape(-1, 3)  # own copies: frozen below
        self.is_20in = np.array(is_20in, dtype=bool)
        self.source = str(source)
        if len(self.is_20in) != len(self.xyz_cm):
            raise GeometryError(f"{self.source}: {len(self.xyz_cm)} positions but {len(self.is_20in)} types")
        if len(self.xyz_cm) == 0:
            raise GeometryError(f"{self.source}: PMT table is empty")
        r = np.linalg.norm(self.xyz_cm, axis=1)
        if not np.isfinite(r).all() or (r <= 0).any():
            raise GeometryError(f"{self.source}: PMT positions must be finite and away from the centre")
        self.r_cm = r
        self.unit = self.xyz_cm / r[:, None]
        self.theta = np.arccos(np.clip(self.unit[:, 2], -1.0, 1.0))  #: (P,) polar angle, rad
        self.phi = np.mod(np.arctan2(self.unit[:, 1], self.unit[:, 0]), 2 * np.pi)  #: (P,) azimuth in [0, 2pi)
        #: (3, P) float64, x, y and z rows contiguous (fast per-coordinate gathers by PMT id)
        self.xyz_rows_cm = np.ascontiguousarray(self.xyz_cm.T)
        self.r2_cm2 = self.r_cm**2  #: (P,) squared radius, cm^2
        for value in vars(self).values():  # tables are cached and shared: nobody may write into them
            if isinstance(value, np.ndarray):
                value.flags.writeable = False

    def __len__(self) -> int:
        return len(self.xyz_cm)

    @property
    def n_17in(self) -> int:
        return int((~self.is_20in).sum())

    @property
    def n_20in(self) -> int:
        return int(self.is_20in.sum())

    @property
    def radius_cm(self) -> float:
        """Mean PMT radius, cm."""
        return float(self.r_cm.mean())

    def photocathode_area_cm2(self, coverage_17in: float, coverage_20in: float) -> np.ndarray:
        """``(P,) float64`` effective photocathode area per PMT, cm^2.

        Each type shares its photocoverage (fraction of the sphere of radius
        :attr:`radius_cm`) equally: ``A = coverage * 4 pi R^2 / n_type``.
        """
        sphere = 4 * np.pi * self.radius_cm**2
        a17 = coverage_17in * sphere / max(self.n_17in, 1)
        a20 = coverage_20in * sphere / max(self.n_20in, 1)
        return np.where(self.is_20in, a20, a17)

    @functools.cached_property
    def digest(self) -> str:
        """Short SHA-256 of positions and types, stored with files and models."""
        h = hashlib.sha256(self.xyz_cm.astype("<f8").tobytes() + self.is_20in.astype("u1").tobytes())
        return h.hexdigest()[:16]

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the table atomically (temporary file, then rename)."""
        path = Path(path)
        lines = ["pmt_id,x_cm,y_cm,z_cm,type"]
        for i, ((x, y, z), big) in enumerate(zip(self.xyz_cm, self.is_20in)):
            lines.append(f"{i},{x:.4f},{y:.4f},{z:.4f},{TYPES[int(big)]}")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, path)
        return path

    def __repr__(self) -> str:
        return f"PMTTable({len(self)} PMTs: {self.n_17in} 17in + {self.n_20in} 20in, R={self.radius_cm:.1f} cm, {self.source})"


def fibonacci_pmt_table(n: int = N_PMTS, n_20in: int = N_PMTS_20IN, radius_cm: float = PMT_RADIUS_CM) -> PMTTable:
    """The deterministic layout described in the module docstring."""
    i = np.arange(n, dtype=np.float64)
    z = 1.0 - (2.0 * i + 1.0) / n
    rho = np.sqrt(1.0 - z * z)
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    xyz = radius_cm * np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)
    k = np.arange(n)
    # Bresenham-style spread: PMT k is 20-inch when the running share steps up
    is_20in = (k + 1) * n_20in // n > k * n_20in // n
    return PMTTable(xyz, is_20in, source=f"fibonacci({n}, {n_20in} x 20in, R={radius_cm} cm)")


def load_pmt_table(path: str | os.PathLike) -> PMTTable:
    """Read a PMT table CSV with columns ``pmt_id,x_cm,y_cm,z_cm,type``.

    Rows may come in any order; ``pmt_id`` must be exactly ``0..P-1``.
    Raises :class:`~kamcore.errors.GeometryError` naming the file and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise GeometryError(f"{path}: cannot read PMT table ({exc.strerror or exc})") from None
    rows = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not rows:
        raise GeometryError(f"{path}: PMT table is empty")
    header = [c.strip() for c in rows[0].split(",")]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise GeometryError(f"{path}: PMT table lacks columns {missing} (has {header})")
    col = {c: header.index(c) for c in COLUMNS}
    ids, xyz, big = [], [], []
    for lineno, ln in enumerate(rows[1:], start=2):
        f = [c.strip() for c in ln.split(",")]
        try:
            ids.append(int(f[col["pmt_id"]]))
            xyz.append([float(f[col["x_cm"]]), float(f[col["y_cm"]]), float(f[col["z_cm"]])])
            t = f[col["type"]]
        except (ValueError, IndexError):
            raise GeometryError(f"{path}: line {lineno}: cannot parse {ln!r}") from None
        if t not in TYPES:
            raise GeometryError(f"{path}: line {lineno}: PMT type {t!r} is not one of {TYPES}")
        big.append(t == "20in")
    ids_a = np.asarray(ids)
    order = np.argsort(ids_a)
    if not np.array_equal(ids_a[order], np.arange(len(ids_a))):
        raise GeometryError(f"{path}: pmt_id must be 0..{len(ids_a) - 1} each exactly once")
    return PMTTable(np.asarray(xyz)[order], np.asarray(big)[order], source=str(path))


@functools.lru_cache(maxsize=8)
def _cached_table(path: str) -> PMTTable:
    return load_pmt_table(path)


def default_pmt_table(path: str | os.PathLike | None = None) -> PMTTable:
    """The PMT table in use: ``path``, else ``$KAMCORE_PMT_TABLE``, else the shipped one.

    Tables are cached per resolved path and must be treated as read-only.
    """
    if path is None:
        path = os.environ.get("KAMCORE_PMT_TABLE") or DEFAULT_PMT_TABLE
    return _cached_table(str(Path(path).resolve()))
