"""Detector health of one run: PMT occupancy with hot and dead PMTs, the run's summary numbers, and the
compatibility of a run with a reference run.

Occupancy
---------
For a run of ``N`` events, PMT ``p`` (of ``P = 1879``) has

    k_p = number of events in which PMT p has a hit            (counts, (P,) int64)
    o_p = k_p / N                                               (occupancy, hits per PMT per event)

A faulty PMT is found against an **expected occupancy** ``e_p``:

* by default (no reference) the median occupancy of the ``n_neighbours`` (12) nearest PMTs of the same
  type (17-inch or 20-inch) in the same run -- the light a PMT sees varies smoothly over the sphere, so
  its neighbours are the reference, and one dead or hot PMT does not move their median;
* with a reference occupancy ``r_p`` of a reference run of ``N_ref`` events (the curated reference run),
  ``e_p = r_p * s`` with ``s = median_p(o_p) / median_p(r_p)``: the reference's pattern scaled to this
  run's light.

The hits of a PMT over ``N`` events are counted like a Poisson number with mean ``mu_p = N e_p``; the
expectation itself carries the error of a median of ``n`` neighbours (variance ``pi/2 * mu_p / n``) or
of the reference run's own count (variance ``mu_p N / N_ref``), so

    z_p = (k_p - mu_p) / sqrt(mu_p (1 + pi / (2 n)))           (dimensionless, robust z; neighbours)
    z_p = (k_p - mu_p) / sqrt(mu_p (1 + N / N_ref))            (against a reference run)

and (:class:`HealthConfig`) PMT ``p`` is **dead** when ``z_p < -z_dead`` (default 5) and **hot** when
``z_p > z_hot`` (default 5).  A run whose median ``mu_p`` is below ``min_expected`` (default 10 hits) is
too short to tell (``status="too_few_events"``, no PMT flagged): a dead PMT would be below 5 sigma only
when ``mu > 25``; for a typical 2-3 MeV event that hits ~20 % of the PMTs this is ~125 events.

Summary numbers of a run (:func:`run_health`): mean Nhit (hit PMTs per event), the energy peak (mode of
the visible-energy histogram in 50 keV bins smoothed over 3 bins, MeV) and the event count.

Compatibility with a reference run (:func:`compare_runs`): the two-sample Kolmogorov-Smirnov p-value of
the score, Nhit and energy distributions of the two runs (:func:`ks_pvalue`).

Fault injection (for tests and demonstrations, :func:`inject_pmt_faults`): a dead PMT loses all its
hits; a hot PMT fires a noise hit (time uniform over the event's hit times, charge 1 p.e. with 30 %
resolution) in each event with probability ``hot_rate`` when it has no hit there.

>>> import numpy as np
>>> ks_pvalue(np.arange(100.0), np.arange(100.0))
1.0
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Sequence

import numpy as np
import param

from ..config import JsonConfig
from ..errors import ConfigError

__all__ = ["HealthConfig", "RunHealth", "occupancy_counts", "expected_occupancy", "flag_pmts", "run_health",
           "inject_pmt_faults", "parse_pmt_list", "ks_pvalue", "compare_runs", "run_trends", "energy_peak_mev"]


class HealthConfig(JsonConfig):
    """The hot / dead PMT rule (module docstring)."""

    z_dead = param.Number(default=5.0, bounds=(1.0, 100.0), doc="A PMT with z below -z_dead is dead (sigma).")
    z_hot = param.Number(default=5.0, bounds=(1.0, 100.0), doc="A PMT with z above z_hot is hot (sigma).")
    n_neighbours = param.Integer(default=12, bounds=(3, 100), doc=(
        "Neighbours of the same PMT type whose median occupancy is the expectation (without a reference)."))
    min_expected = param.Number(default=10.0, bounds=(0.0, None), doc=(
        "Median expected hits per PMT below which the run is too short to flag PMTs (hits)."))


@dataclasses.dataclass
class RunHealth:
    """Health of one run (module docstring).

    Attributes
    ----------
    run : run number
    n_events : events of the run
    counts : ``(P,) int64``, events with a hit per PMT
    expected : ``(P,) float64``, expected occupancy ``e_p`` (hits per PMT per event)
    z : ``(P,) float64``, robust z of each PMT (0 when the run is too short)
    dead, hot : flagged PMT ids, ascending
    status : ``"ok"`` or ``"too_few_events"``
    reference : ``"neighbours"`` or ``"run N"`` (the reference run the expectation came from)
    mean_nhit : hit PMTs per event, mean
    energy_peak_mev : peak of the visible energy (NaN without events)
    config : the :class:`HealthConfig` as a dict
    """

    run: int
    n_events: int
    counts: np.ndarray
    expected: np.ndarray
    z: np.ndarray
    dead: list
    hot: list
    status: str
    reference: str
    mean_nhit: float
    energy_peak_mev: float
    config: dict

    @property
    def occupancy(self) -> np.ndarray:
        """``(P,) float64`` hits per PMT per event."""
        return self.counts / max(self.n_events, 1)

    def to_dict(self) -> dict:
        """JSON-able dict (arrays as lists; z rounded to 0.01)."""
        return {"run": int(self.run), "n_events": int(self.n_events), "counts": [int(x) for x in self.counts],
                "expected": [round(float(x), 6) for x in self.expected],
                "z": [round(float(x), 2) for x in self.z], "dead": [int(x) for x in self.dead],
                "hot": [int(x) for x in self.hot], "status": self.status, "reference": self.reference,
                "mean_nhit": float(self.mean_nhit),
                "energy_peak_mev": None if not math.isfinite(self.energy_peak_mev) else float(self.energy_peak_mev),
                "config": dict(self.config)}

    @classmethod
    def from_dict(cls, d: dict) -> "RunHealth":
        peak = d.get("energy_peak_mev")
        return cls(run=int(d["run"]), n_events=int(d["n_events"]), counts=np.asarray(d["counts"], np.int64),
                   expected=np.asarray(d["expected"], np.float64), z=np.asarray(d["z"], np.float64),
                   dead=list(d["dead"]), hot=list(d["hot"]), status=d["status"], reference=d["reference"],
                   mean_nhit=float(d["mean_nhit"]), energy_peak_mev=float("nan") if peak is None else float(peak),
                   config=dict(d.get("config") or {}))


def parse_pmt_list(text: str | Sequence[int] | None, n_pmts: int = 1879, *, what: str = "PMT list") -> list[int]:
    """PMT ids of ``"3, 17,40"`` (or a sequence of ints), sorted and unique; ConfigError on a bad id.

    >>> parse_pmt_list("17, 3,3")
    [3, 17]
    """
    if text is None:
        return []
    if isinstance(text, str):
        parts = [x.strip() for x in text.replace(";", ",").split(",") if x.strip()]
        try:
            ids = [int(x) for x in parts]
        except ValueError:
            raise ConfigError(f"{what} must be PMT ids separated by commas, got {text!r}") from None
    else:
        ids = [int(x) for x in text]
    bad = [i for i in ids if not 0 <= i < n_pmts]
    if bad:
        raise ConfigError(f"{what}: PMT id {bad[0]} is out of range 0..{n_pmts - 1}")
    return sorted(set(ids))


def occupancy_counts(events, n_pmts: int = 1879) -> np.ndarray:
    """``(P,) int64``: number of events in which each PMT has at least one hit."""
    if events.n_hits == 0:
        return np.zeros(n_pmts, np.int64)
    ev = np.repeat(np.arange(len(events), dtype=np.int64), np.diff(events.offsets))
    key = np.unique(ev * n_pmts + events.pmt.astype(np.int64))  # one per (event, PMT)
    return np.bincount(key % n_pmts, minlength=n_pmts).astype(np.int64)


@functools.lru_cache(maxsize=4)
def _neighbours(unit: bytes, is_20in: bytes, n: int) -> np.ndarray:
    xyz = np.frombuffer(unit, np.float64).reshape(-1, 3)
    kind = np.frombuffer(is_20in, bool)
    out = np.zeros((len(xyz), n), np.int64)
    for k in (False, True):
        idx = np.flatnonzero(kind == k)
        cos = xyz[idx] @ xyz[idx].T
        np.fill_diagonal(cos, -2.0)  # not itself
        out[idx] = idx[np.argsort(-cos, axis=1)[:, :n]]
    out.setflags(write=False)
    return out


def _pmts_table(pmts=None):
    from ..geometry import default_pmt_table

    return pmts if pmts is not None else default_pmt_table()


def neighbour_table(pmts=None, n: int = 12) -> np.ndarray:
    """``(P, n) int64``: the ``n`` nearest PMTs of the same type of each PMT (by angle); cached, read-only."""
    table = _pmts_table(pmts)
    unit = np.ascontiguousarray(table.unit, np.float64).tobytes()
    return _neighbours(unit, np.ascontiguousarray(table.is_20in, bool).tobytes(), int(n))


def expected_occupancy(occupancy: np.ndarray, *, reference: np.ndarray | None = None, pmts=None,
                       n_neighbours: int = 12) -> np.ndarray:
    """``(P,) float64`` expected occupancy ``e_p`` (module docstring): the median of each PMT's neighbours, or
    the reference occupancy scaled to this run."""
    occ = np.asarray(occupancy, np.float64)
    if reference is not None:
        ref = np.asarray(reference, np.float64)
        if ref.shape != occ.shape:
            raise ConfigError(f"reference occupancy has {ref.shape[0]} PMTs, the run {occ.shape[0]}")
        m_ref = float(np.median(ref))
        scale = float(np.median(occ)) / m_ref if m_ref > 0 else 0.0
        return ref * scale
    nb = neighbour_table(pmts, n_neighbours)
    return np.median(occ[nb], axis=1)


def flag_pmts(counts: np.ndarray, n_events: int, *, reference: np.ndarray | None = None,
              reference_events: int | None = None, pmts=None, config: HealthConfig | None = None):
    """``(expected (P,), z (P,), dead ids, hot ids, status)`` of a run's counts ``(P,)`` over ``n_events``
    (module docstring); ``reference``: ``(P,)`` occupancy of a reference run of ``reference_events`` events."""
    cfg = config or HealthConfig()
    counts = np.asarray(counts, np.int64)
    n = max(int(n_events), 0)
    occ = counts / max(n, 1)
    exp = expected_occupancy(occ, reference=reference, pmts=pmts, n_neighbours=cfg.n_neighbours)
    mu = exp * n
    if n == 0 or float(np.median(mu)) < cfg.min_expected:
        return exp, np.zeros(len(counts)), [], [], "too_few_events"
    if reference is None:
        spread = 1.0 + math.pi / (2 * cfg.n_neighbours)
    else:
        spread = 1.0 + (n / reference_events if reference_events else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (counts - mu) / np.sqrt(np.maximum(mu, 0.25) * spread)  # a floor: a PMT expected at ~0 hits
    dead = [int(i) for i in np.flatnonzero(z < -cfg.z_dead)]
    hot = [int(i) for i in np.flatnonzero(z > cfg.z_hot)]
    return exp, z, dead, hot, "ok"


def energy_peak_mev(energy_mev: np.ndarray, bin_mev: float = 0.05) -> float:
    """Peak of the visible energy (MeV): the 3-bin running mean of a 50 keV histogram finds the peak
    region, and the fullest bin in it gives the centre (a flat top of the running mean -- a narrow line --
    would otherwise pick its first bin); NaN without events.

    >>> round(energy_peak_mev(np.r_[np.full(50, 2.46), np.linspace(1, 3, 20)]), 2)
    2.48
    """
    e = np.asarray(energy_mev, np.float64)
    e = e[np.isfinite(e)]
    if not len(e):
        return float("nan")
    lo = math.floor(e.min() / bin_mev) * bin_mev
    nb = max(1, int(math.ceil((e.max() - lo) / bin_mev)) + 1)
    h = np.bincount(np.minimum(((e - lo) / bin_mev).astype(np.int64), nb - 1), minlength=nb).astype(float)
    sm = np.convolve(np.r_[0.0, h, 0.0], np.ones(3) / 3.0, mode="valid")
    i = int(np.argmax(sm))
    j = max(i - 1, 0) + int(np.argmax(h[max(i - 1, 0):i + 2]))
    return float(lo + (j + 0.5) * bin_mev)


def run_health(events, *, run: int | None = None, reference: dict | None = None, pmts=None,
               config: HealthConfig | None = None) -> RunHealth:
    """The :class:`RunHealth` of ``events`` (one run).

    ``reference``: a stored health dict (:meth:`RunHealth.to_dict`) of the reference run whose occupancy
    is the expectation; None: the neighbours of each PMT.
    """
    cfg = config or HealthConfig()
    table = _pmts_table(pmts)
    n_pmts = len(table.theta)
    counts = occupancy_counts(events, n_pmts)
    ref_occ, ref_name = None, "neighbours"
    if reference is not None and reference.get("n_events"):
        ref_occ = np.asarray(reference["counts"], np.float64) / float(reference["n_events"])
        ref_name = f"run {reference['run']}"
    exp, z, dead, hot, status = flag_pmts(counts, len(events), reference=ref_occ, pmts=table, config=cfg,
                                          reference_events=None if ref_occ is None else int(reference["n_events"]))
    nhit = events.hits_per_event if len(events) else np.zeros(0)
    if run is None:
        run = int(events.run[0]) if len(events) else -1
    return RunHealth(run=int(run), n_events=len(events), counts=counts, expected=exp, z=z, dead=dead, hot=hot,
                     status=status, reference=ref_name,
                     mean_nhit=float(np.mean(nhit)) if len(nhit) else float("nan"),
                     energy_peak_mev=energy_peak_mev(events.energy_mev), config=cfg.to_dict())


def inject_pmt_faults(events, *, dead: Sequence[int] = (), hot: Sequence[int] = (), hot_rate: float = 0.5,
                      rng: np.random.Generator | None = None):
    """``events`` with PMTs ``dead`` silenced and PMTs ``hot`` firing noise hits (module docstring).

    ``hot_rate`` is the probability per event that a hot PMT without a hit gets one.  Returns new Events
    (the input is not changed); the hits of an event stay in their original order, noise hits appended.
    """

    dead = np.asarray(sorted(set(int(x) for x in dead)), np.int64)
    hot = np.asarray(sorted(set(int(x) for x in hot) - set(dead.tolist())), np.int64)
    if not 0.0 <= hot_rate <= 1.0:
        raise ConfigError(f"hot_rate is a probability per event, got {hot_rate}")
    if (not len(dead) and not len(hot)) or len(events) == 0:
        return events
    rng = rng or np.random.default_rng(0)
    n = len(events)
    ev_of_hit = np.repeat(np.arange(n, dtype=np.int64), np.diff(events.offsets))
    pmt = events.pmt.astype(np.int64)
    keep = ~np.isin(pmt, dead)
    ev_of_hit, t, q, pmt = ev_of_hit[keep], events.t_ns[keep], events.q_pe[keep], pmt[keep]
    new_ev, new_p = [], []
    if len(hot):
        has = np.zeros((n, len(hot)), bool)
        m = np.isin(pmt, hot)
        has[ev_of_hit[m], np.searchsorted(hot, pmt[m])] = True
        fire = (rng.random((n, len(hot))) < hot_rate) & ~has
        e_idx, h_idx = np.nonzero(fire)
        new_ev, new_p = e_idx, hot[h_idx]
    new_ev = np.asarray(new_ev, np.int64)
    if len(new_ev):
        t_lo = np.full(n, 0.0)
        t_hi = np.full(n, 100.0)
        if len(t):
            first = np.r_[0, np.flatnonzero(np.diff(ev_of_hit)) + 1]
            evs = ev_of_hit[first]
            t_lo[evs] = np.minimum.reduceat(t, first)
            t_hi[evs] = np.maximum.reduceat(t, first)
        nt = (t_lo[new_ev] + rng.random(len(new_ev)) * (t_hi[new_ev] - t_lo[new_ev])).astype(np.float32)
        nq = np.maximum(rng.normal(1.0, 0.3, len(new_ev)), 0.3).astype(np.float32)
        ev_all = np.r_[ev_of_hit, new_ev]
        order = np.argsort(ev_all, kind="stable")
        ev_of_hit = ev_all[order]
        pmt = np.r_[pmt, np.asarray(new_p, np.int64)][order]
        t = np.r_[t, nt][order]
        q = np.r_[q, nq][order]
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(ev_of_hit, minlength=n), out=offsets[1:])
    return dataclasses.replace(events, offsets=offsets, pmt=pmt.astype(np.int16), t_ns=t.astype(np.float32),
                               q_pe=q.astype(np.float32))


def ks_pvalue(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value of samples ``a`` and ``b`` (scipy, exact for small samples,
    asymptotic otherwise); NaN when either sample is empty."""
    from scipy.stats import ks_2samp

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return float("nan")
    return float(ks_2samp(a, b).pvalue)


def compare_runs(run: dict, reference: dict, *, model_digest: str | None = None) -> dict:
    """KS compatibility of catalog run ``run`` with ``reference`` (rows of :meth:`Catalog.list_runs`, with
    ``path``): ``{"score", "nhit", "energy": {"pvalue", "n", "n_ref"}, "run", "reference"}``.

    Nhit (hit PMTs per event) and visible energy come from the run files; the scores from their score
    files (of ``model_digest``, any model when None).  A file that cannot be read gives NaN for its rows and
    an ``"error"`` line.
    """
    from ..errors import KamcoreError, one_line
    from ..io import open_events, read_scores
    from ..runs.files import score_path

    out: dict = {"run": run["run"], "reference": reference["run"]}
    errors = []

    def load(r):
        d = {}
        try:
            ev = open_events(r["path"])
            d["nhit"], d["energy"] = ev.hits_per_event.astype(np.float64), ev.energy_mev.astype(np.float64)
        except (KamcoreError, OSError, TypeError) as exc:
            errors.append(one_line(exc))
        try:
            sc = read_scores(score_path(r["path"]))
            d["score"] = np.asarray(sc["score"], np.float64)
        except (KamcoreError, OSError, TypeError, KeyError) as exc:
            errors.append(one_line(exc))
        return d

    a, b = load(run), load(reference)
    for k in ("score", "nhit", "energy"):
        x, y = a.get(k, np.zeros(0)), b.get(k, np.zeros(0))
        out[k] = {"pvalue": ks_pvalue(x, y), "n": int(len(x)), "n_ref": int(len(y))}
    if errors:
        out["error"] = "; ".join(errors)
    return out


def run_trends(runs: list[dict], health: dict[int, dict]) -> dict:
    """Columns of the trend plots against wall-clock time, one entry per ``ok`` run with start and stop
    times: ``start_ms`` (ms since the epoch), ``run``, ``rate_hz`` (events per live second), ``mean_nhit``,
    ``energy_peak_mev``, ``bkg_fraction`` and ``bkg_fraction_err`` (NaN where unknown); ``health`` maps run
    number -> stored health dict (:meth:`Catalog.run_health`)."""
    cols = {k: [] for k in ("start_ms", "run", "rate_hz", "mean_nhit", "energy_peak_mev", "bkg_fraction",
                            "bkg_fraction_err")}
    nan = float("nan")
    for r in runs:
        if r.get("status") != "ok" or r.get("start_ns") is None or r.get("stop_ns") is None:
            continue
        live = r.get("livetime_s") or (r["stop_ns"] - r["start_ns"]) / 1e9
        h = health.get(r["run"]) or {}
        fit = r.get("fit") or {}
        ok_fit = fit.get("status") == "ok"
        cols["start_ms"].append(r["start_ns"] / 1e6)
        cols["run"].append(int(r["run"]))
        cols["rate_hz"].append((r.get("n_events") or 0) / live if live else nan)
        cols["mean_nhit"].append(nan if h.get("mean_nhit") is None else float(h["mean_nhit"]))
        cols["energy_peak_mev"].append(nan if h.get("energy_peak_mev") is None else float(h["energy_peak_mev"]))
        f, e = fit.get("bkg_fraction"), fit.get("bkg_fraction_err")
        cols["bkg_fraction"].append(float(f) if ok_fit and f is not None else nan)
        cols["bkg_fraction_err"].append(float(e) if ok_fit and e is not None else nan)
    return cols
