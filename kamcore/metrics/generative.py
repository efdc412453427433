"""Figures of merit of an event generator against a reference sample (DESIGN 6; generative-models paper, sec. 4.3).

Four distributions are compared, all on the point-cloud hits (``|tau| <= 30 ns``,
``q >= 0.3 p.e.``, :func:`kamcore.preprocess.point_clouds` cuts):

* ``time`` -- proper hit time tau of every hit, ns;
* ``charge`` -- charge of every hit, p.e.;
* ``nhit`` -- hits per event;
* ``total_charge`` -- summed charge per event, p.e.

and, for the event's position (:data:`VERTEX_QUANTITIES`; a generator without a vertex
dipole fails these while passing the four above), the charge centroid
``c = sum_i q_i x_i / sum_i q_i`` of the point-cloud hits' PMTs:

* ``centroid_r`` -- ``|c|`` per event, cm (isotropic noise alone gives ~40 cm);
* ``centroid_z`` -- its z per event, cm (a balloon-bottom source sits at negative z).

For a reference sample ``D0`` and a generated sample ``Dg`` of one quantity:

    J(P0, Pg) = sum_k min(P0[k], Pg[k]) / sum_k max(P0[k], Pg[k])        (eq. 4, IoU)
    R(P0, Pg) = W(P0, Pg) / (max D0 - min D0)                             (eq. 5)

``P0, Pg`` are unit-normalised histograms on one fixed binning (``bins`` equal bins
over ``[min D0, max D0]`` unless edges are given) plus an underflow and an overflow
bin, so generated values outside the reference range lower ``J`` instead of being
dropped.  ``W`` is the 1-D Wasserstein (earth mover's) distance of the two samples
(:func:`scipy.stats.wasserstein_distance`).  ``J = 1`` and ``R = 0`` for identical
samples.

The classifier two-sample test trains a small MLP to tell the samples apart from
high-level event features (:data:`FEATURE_NAMES`) on one half of each and reports
the ROC AUC on the other half: 0.5 means indistinguishable.

Every number also has a ceiling set by sample size alone: two independent Monte
Carlo samples of the same size are not identical either.  :func:`mc_ceiling`
computes the same metrics for two disjoint halves of one Monte Carlo sample.

Generated events (:func:`kamcore.models.generate_events`) already carry
proper times; they are marked with ``attrs["time_reference"] == "proper"`` and used
as they are, while every other batch goes through :func:`kamcore.preprocess.proper_times`.

>>> x = np.arange(100.0)
>>> histogram_iou(x, x), normalised_wasserstein(x, x)
(1.0, 0.0)
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch
from scipy.stats import wasserstein_distance

from ..errors import ConfigError
from ..events import Events
from ..geometry import PMTTable, default_pmt_table
from ..preprocess.config import HitMapConfig
from ..preprocess.timing import proper_times
from .classification import auc

__all__ = ["QUANTITIES", "VERTEX_QUANTITIES", "ALL_QUANTITIES", "FEATURE_NAMES", "histogram_iou", "normalised_wasserstein", "event_observables",
           "event_features", "classifier_two_sample_test", "compare_events", "mc_ceiling", "bootstrap_compare"]

log = logging.getLogger(__name__)

#: the compared distributions, in the order of the paper's Table 1
QUANTITIES = ("time", "charge", "nhit", "total_charge")
#: the event-position distributions (charge centroid), compared beside the paper's four
VERTEX_QUANTITIES = ("centroid_r", "centroid_z")
ALL_QUANTITIES = QUANTITIES + VERTEX_QUANTITIES
#: high-level features of the classifier two-sample test
FEATURE_NAMES = ("nhit", "total_charge_pe", "t_mean_ns", "t_std_ns", "t_q10_ns", "t_q25_ns", "t_q50_ns",
                 "t_q75_ns", "t_q90_ns", "centroid_r_cm")


def _edges(reference: np.ndarray, bins: int | Sequence[float] | np.ndarray) -> np.ndarray:
    if np.ndim(bins) == 0:
        nb = int(bins)
        if nb < 1:
            raise ConfigError(f"bins must be a positive integer or an array of edges, got {bins!r}")
        return np.histogram_bin_edges(reference, nb, range=(float(reference.min()), float(reference.max())))
    edges = np.asarray(bins, np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ConfigError(f"bin edges must be a strictly increasing 1-D array of >= 2 values, got {bins!r}")
    return edges


def _unit_histogram(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``(len(edges) + 1,)``: underflow, the bins, overflow; sums to 1."""
    counts, _ = np.histogram(x, edges)
    under = np.count_nonzero(x < edges[0])
    over = np.count_nonzero(x > edges[-1])
    h = np.r_[under, counts, over].astype(np.float64)
    return h / max(len(x), 1)


def histogram_iou(reference: np.ndarray, other: np.ndarray, bins: int | Sequence[float] = 50) -> float:
    """Histogram intersection over union ``J`` (eq. 4) of two samples.

    Parameters
    ----------
    reference : (n0,) array
        ``D0``; sets the binning when ``bins`` is an integer.
    other : (ng,) array
        ``Dg``.
    bins : int or (K+1,) array
        Number of equal bins over ``[min D0, max D0]`` (default 50, our choice) or the
        bin edges.  Values outside the edges go to an underflow / overflow bin.

    Returns
    -------
    float
        In [0, 1]; NaN when either sample is empty.

    Examples
    --------
    >>> histogram_iou([0.5, 0.5, 1.5, 1.5], [0.5, 1.5, 1.5, 1.5], bins=[0, 1, 2])  # .75 / 1.25
    0.6
    """
    r = np.asarray(reference, np.float64).ravel()
    g = np.asarray(other, np.float64).ravel()
    if len(r) == 0 or len(g) == 0:
        return float("nan")
    edges = _edges(r, bins)
    p0, pg = _unit_histogram(r, edges), _unit_histogram(g, edges)
    return float(np.minimum(p0, pg).sum() / np.maximum(p0, pg).sum())


def normalised_wasserstein(reference: np.ndarray, other: np.ndarray) -> float:
    """``R = W(D0, Dg) / (max D0 - min D0)`` (eq. 5); NaN when a sample is empty or D0 has no spread.

    >>> normalised_wasserstein([0.0, 1.0, 2.0, 4.0], [1.0, 2.0, 3.0, 5.0])  # shift 1 over range 4
    0.25
    """
    r = np.asarray(reference, np.float64).ravel()
    g = np.asarray(other, np.float64).ravel()
    if len(r) == 0 or len(g) == 0:
        return float("nan")
    span = float(r.max() - r.min())
    if span <= 0:
        return float("nan")
    return float(wasserstein_distance(r, g) / span)


def _cloud_hits(events: Events, pmts: PMTTable, config: HitMapConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                                  np.ndarray]:
    """``(event index, pmt, tau_ns, q_pe)`` of the hits that pass the point-cloud cuts, each ``(H',)``."""
    if events.attrs.get("time_reference") == "proper":
        tau = events.t_ns.astype(np.float32)
    else:
        tau, _ = proper_times(events, pmts, config)
    keep = (np.abs(tau) <= config.cloud_window_ns) & (events.q_pe >= config.cloud_threshold_pe)
    return events.event_index()[keep], events.pmt[keep].astype(np.int64), tau[keep], events.q_pe[keep]


def _centroids(ev: np.ndarray, pmt: np.ndarray, q: np.ndarray, n: int, pmts: PMTTable) -> np.ndarray:
    """``(n, 3) float64`` cm: the charge centroid of each event's hits (zeros for an event without hits)."""
    q64 = q.astype(np.float64)
    # float64 explicitly: bincount of no hits at all returns int64 even with float weights
    qsum = np.bincount(ev, q64, minlength=n).astype(np.float64)
    xyz = pmts.xyz_cm[pmt].astype(np.float64)
    c = np.stack([np.bincount(ev, q64 * xyz[:, k], minlength=n) for k in range(3)], 1).astype(np.float64)
    ok = qsum > 0
    c[ok] /= qsum[ok, None]
    return c


def event_observables(events: Events, pmts: PMTTable | None = None,
                      config: HitMapConfig | None = None) -> dict[str, np.ndarray]:
    """The compared distributions of a batch (:data:`ALL_QUANTITIES`).

    Returns
    -------
    dict
        ``time`` ``(H',) float64`` ns and ``charge`` ``(H',) float64`` p.e. of every
        point-cloud hit; ``nhit`` ``(N,) float64``, ``total_charge`` ``(N,) float64`` p.e.,
        ``centroid_r`` and ``centroid_z`` ``(N,) float64`` cm per event.
    """
    pmts = pmts or default_pmt_table()
    config = config or HitMapConfig()
    ev, pmt, tau, q = _cloud_hits(events, pmts, config)
    n = len(events)
    c = _centroids(ev, pmt, q, n, pmts)
    return {"time": tau.astype(np.float64), "charge": q.astype(np.float64),
            "nhit": np.bincount(ev, minlength=n).astype(np.float64),
            "total_charge": np.bincount(ev, q.astype(np.float64), minlength=n).astype(np.float64),
            "centroid_r": np.linalg.norm(c, axis=1), "centroid_z": c[:, 2]}


def event_features(events: Events, pmts: PMTTable | None = None,
                   config: HitMapConfig | None = None) -> np.ndarray:
    """High-level features of every event for the classifier test.

    Returns
    -------
    (N, 10) float64
        Columns :data:`FEATURE_NAMES`: NHIT, total charge (p.e.), hit-time mean, standard
        deviation and 10/25/50/75/90% quantiles (ns), radius of the charge centroid of the
        hit PMTs (cm).  Events without hits get zeros.
    """
    pmts = pmts or default_pmt_table()
    config = config or HitMapConfig()
    ev, pmt, tau, q = _cloud_hits(events, pmts, config)
    n = len(events)
    out = np.zeros((n, len(FEATURE_NAMES)), np.float64)
    counts = np.bincount(ev, minlength=n)
    q64 = q.astype(np.float64)
    qsum = np.bincount(ev, q64, minlength=n)
    out[:, 0], out[:, 1] = counts, qsum
    has = counts > 0
    # hits are grouped by event (event_index is sorted); sort times within each event
    order = np.lexsort((tau, ev))
    t_sorted = tau[order].astype(np.float64)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(ev, tau.astype(np.float64), minlength=n) / counts
        var = np.bincount(ev, tau.astype(np.float64) ** 2, minlength=n) / counts - mean ** 2
    out[has, 2] = mean[has]
    out[has, 3] = np.sqrt(np.clip(var[has], 0, None))
    for j, f in enumerate((0.10, 0.25, 0.50, 0.75, 0.90)):
        pos = starts[has] + f * (counts[has] - 1)            # linear interpolation between order statistics
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, starts[has] + counts[has] - 1)
        w = pos - lo
        out[has, 4 + j] = t_sorted[lo] * (1 - w) + t_sorted[hi] * w
    out[:, 9] = np.linalg.norm(_centroids(ev, pmt, q, n, pmts), axis=1)
    return out


def _linear(n_in: int, n_out: int, gen: torch.Generator) -> torch.nn.Linear:
    """``nn.Linear`` initialised from ``gen`` (PyTorch's default U(-1/sqrt(n_in), 1/sqrt(n_in)) bounds)."""
    layer = torch.nn.Linear(n_in, n_out, dtype=torch.float64)
    bound = 1.0 / np.sqrt(n_in)
    with torch.no_grad():
        layer.weight.copy_(torch.rand(layer.weight.shape, generator=gen, dtype=torch.float64) * 2 * bound - bound)
        layer.bias.copy_(torch.rand(layer.bias.shape, generator=gen, dtype=torch.float64) * 2 * bound - bound)
    return layer


def classifier_two_sample_test(a: np.ndarray, b: np.ndarray, *, seed: int = 0, hidden: Sequence[int] = (32, 32),
                               epochs: int = 300, lr: float = 1e-2, weight_decay: float = 1e-3,
                               train_fraction: float = 0.5) -> dict:
    """Held-out ROC AUC of an MLP trained to separate samples ``a`` and ``b``.

    Each sample is split at random into a training part (``train_fraction``) and a
    held-out part.  Features are standardised with the training mean and spread; the
    MLP (``Linear -> ReLU`` per hidden width, one logit) is trained full-batch with
    Adam on the class-balanced binary cross-entropy, in float64 on the CPU with one
    torch thread (the caller's thread count is restored afterwards), with its
    weights, split and everything else drawn from ``seed``.

    Parameters
    ----------
    a, b : (n_a, F), (n_b, F) arrays
        Features of the two samples (e.g. :func:`event_features`).
    seed : int
    hidden : sequence of int
    epochs : int
        Full-batch optimisation steps.
    lr, weight_decay : float
        Adam settings.
    train_fraction : float
        Share of each sample used for training.

    Returns
    -------
    dict
        ``auc`` (held-out, ``a`` scored as the positive class; 0.5 = indistinguishable,
        values below 0.5 are fluctuations), ``n_train`` and ``n_test`` (events of both samples).
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ConfigError(f"expected feature arrays (n_a, F) and (n_b, F), got {a.shape} and {b.shape}")
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError(f"train_fraction must be in (0, 1), got {train_fraction}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 10-feature MLP: one thread is fastest, several spin-wait on a busy machine
    try:
        return _classifier_test(a, b, seed, hidden, epochs, lr, weight_decay, train_fraction)
    finally:
        torch.set_num_threads(threads)


def _classifier_test(a: np.ndarray, b: np.ndarray, seed: int, hidden: Sequence[int], epochs: int, lr: float,
                     weight_decay: float, train_fraction: float) -> dict:
    rng = np.random.default_rng(seed)

    def split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        perm = rng.permutation(len(x))
        k = int(round(train_fraction * len(x)))
        return x[perm[:k]], x[perm[k:]]

    a_tr, a_te = split(a)
    b_tr, b_te = split(b)
    if min(len(a_tr), len(b_tr), len(a_te), len(b_te)) == 0:
        raise ConfigError(f"need events of both samples on both sides of the split, got {len(a)} and {len(b)}")
    x_tr = np.concatenate([a_tr, b_tr])
    mu, sd = x_tr.mean(0), x_tr.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    xt = torch.from_numpy((x_tr - mu) / sd)
    yt = torch.from_numpy(np.r_[np.ones(len(a_tr)), np.zeros(len(b_tr))])
    wt = torch.from_numpy(np.r_[np.full(len(a_tr), 0.5 / len(a_tr)), np.full(len(b_tr), 0.5 / len(b_tr))])
    gen = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = []
    width = a.shape[1]
    for h in hidden:
        layers += [_linear(width, h, gen), torch.nn.ReLU()]
        width = h
    layers.append(_linear(width, 1, gen))
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        logit = net(xt).squeeze(1)
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(logit, yt, reduction="none") * wt).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        s_a = net(torch.from_numpy((a_te - mu) / sd)).squeeze(1).numpy()
        s_b = net(torch.from_numpy((b_te - mu) / sd)).squeeze(1).numpy()
    return {"auc": auc(s_a, s_b), "n_train": len(a_tr) + len(b_tr), "n_test": len(a_te) + len(b_te)}


def compare_events(real: Events, generated: Events, pmts: PMTTable | None = None, *,
                   config: HitMapConfig | None = None, bins: int | dict = 50, classifier: bool = True,
                   seed: int = 0) -> dict:
    """IoU, normalised Wasserstein distance and classifier AUC of ``generated`` against ``real``.

    Parameters
    ----------
    real : Events
        Reference sample ``D0`` (sets the binning and the WD normalisation).
    generated : Events
    pmts : PMTTable, optional
        Default: the shipped table.
    config : HitMapConfig, optional
        Vertex choice for the proper times, time window and charge threshold.
    bins : int or dict
        Binning of every quantity, or ``{quantity: int or edges}`` (missing ones: 50).
    classifier : bool
        Also run :func:`classifier_two_sample_test` on :func:`event_features`.
    seed : int
        Seed of the classifier test.

    Returns
    -------
    dict
        ``{quantity: {"iou", "wd", "w"}}`` for every name in :data:`ALL_QUANTITIES` (``wd`` is
        R of eq. 5, ``w`` the unnormalised distance in the quantity's unit), plus
        ``classifier_auc`` (when requested), ``n_real`` and ``n_generated``.
    """
    pmts = pmts or default_pmt_table()
    config = config or HitMapConfig()
    o_r = event_observables(real, pmts, config)
    o_g = event_observables(generated, pmts, config)
    out: dict = {}
    for name in ALL_QUANTITIES:
        b = bins.get(name, 50) if isinstance(bins, dict) else bins
        r, g = o_r[name], o_g[name]
        w = float(wasserstein_distance(r, g)) if len(r) and len(g) else float("nan")
        out[name] = {"iou": histogram_iou(r, g, b), "wd": normalised_wasserstein(r, g), "w": w}
    if classifier:
        res = classifier_two_sample_test(event_features(real, pmts, config), event_features(generated, pmts, config),
                                         seed=seed)
        out["classifier_auc"] = res["auc"]
    out["n_real"], out["n_generated"] = len(real), len(generated)
    log.info("compare: %s", {k: (v["iou"], v["wd"]) for k, v in out.items() if k in QUANTITIES})
    return out


def _resample_hits(counts: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """Hit indices of events ``pick`` (repeats allowed) when hits are grouped by event with ``counts``."""
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    c = counts[pick]
    first = np.repeat(starts[pick], c)
    within = np.arange(int(c.sum())) - np.repeat(np.r_[0, np.cumsum(c)[:-1]], c)
    return first + within


def bootstrap_compare(real: Events, generated: Events, pmts: PMTTable | None = None, *,
                      config: HitMapConfig | None = None, bins: int | dict = 50, n_boot: int = 100,
                      seed: int = 0) -> dict:
    """Bootstrap spread of the IoU and normalised Wasserstein distance of :func:`compare_events`.

    Both samples are resampled by event with replacement (the hits of an event move
    together) ``n_boot`` times; the binning and the normalisation ``max D0 - min D0``
    stay those of the original ``real`` sample, so the spread is that of the sampling
    alone.

    Returns
    -------
    dict
        ``{quantity: {"iou_std", "wd_std", "iou_mean", "wd_mean"}}`` for :data:`ALL_QUANTITIES`
        (mean and standard deviation over the replicas), plus ``n_boot``.
    """
    if n_boot < 2:
        raise ConfigError(f"n_boot must be >= 2, got {n_boot}")
    pmts = pmts or default_pmt_table()
    config = config or HitMapConfig()
    rng = np.random.default_rng(seed)
    samples = []
    for ev in (real, generated):
        e, pmt, tau, q = _cloud_hits(ev, pmts, config)
        counts = np.bincount(e, minlength=len(ev))
        c = _centroids(e, pmt, q, len(ev), pmts)
        samples.append({"n": len(ev), "counts": counts, "time": tau.astype(np.float64),
                        "charge": q.astype(np.float64), "nhit": counts.astype(np.float64),
                        "total_charge": np.bincount(e, q.astype(np.float64), minlength=len(ev)).astype(np.float64),
                        "centroid_r": np.linalg.norm(c, axis=1), "centroid_z": c[:, 2]})
    if min(s["n"] for s in samples) == 0:
        raise ConfigError("bootstrap_compare needs events in both samples")
    ref = samples[0]
    edges, span = {}, {}
    for name in ALL_QUANTITIES:
        b = bins.get(name, 50) if isinstance(bins, dict) else bins
        edges[name] = _edges(ref[name], b) if len(ref[name]) else None
        span[name] = float(ref[name].max() - ref[name].min()) if len(ref[name]) else 0.0
    iou = {name: [] for name in ALL_QUANTITIES}
    wd = {name: [] for name in ALL_QUANTITIES}
    for _ in range(n_boot):
        drawn = []
        for smp in samples:
            pick = rng.integers(0, smp["n"], smp["n"])
            hits = _resample_hits(smp["counts"], pick)
            drawn.append({"time": smp["time"][hits], "charge": smp["charge"][hits],
                          **{k: smp[k][pick] for k in ("nhit", "total_charge", *VERTEX_QUANTITIES)}})
        for name in ALL_QUANTITIES:
            r, g = drawn[0][name], drawn[1][name]
            if edges[name] is None or len(g) == 0:
                continue
            iou[name].append(histogram_iou(r, g, edges[name]))
            if span[name] > 0:
                wd[name].append(wasserstein_distance(r, g) / span[name])
    out: dict = {"n_boot": int(n_boot)}
    for name in ALL_QUANTITIES:
        i, w = np.asarray(iou[name]), np.asarray(wd[name])
        out[name] = {"iou_mean": float(i.mean()) if len(i) else float("nan"),
                     "iou_std": float(i.std(ddof=1)) if len(i) > 1 else float("nan"),
                     "wd_mean": float(w.mean()) if len(w) else float("nan"),
                     "wd_std": float(w.std(ddof=1)) if len(w) > 1 else float("nan")}
    return out


def mc_ceiling(mc: Events, n: int | None = None, pmts: PMTTable | None = None, *, seed: int = 0,
               **compare_kw) -> dict:
    """The metrics of two disjoint random halves of one Monte Carlo sample (the sample-size ceiling).

    Parameters
    ----------
    mc : Events
        At least ``2 n`` events of one source.
    n : int, optional
        Events per half; default ``len(mc) // 2``.  Use the size of the generated sample
        being judged.
    pmts : PMTTable, optional
    seed : int
        Seed of the split and of the classifier test.
    **compare_kw
        Passed to :func:`compare_events` (``config``, ``bins``, ``classifier``).

    Returns
    -------
    dict
        As :func:`compare_events`, with the first half as the reference.
    """
    n = len(mc) // 2 if n is None else int(n)
    if n < 1 or 2 * n > len(mc):
        raise ConfigError(f"mc_ceiling needs 2 n <= {len(mc)} events with n >= 1, got n={n}")
    perm = np.random.default_rng(seed).permutation(len(mc))
    a, b = mc.take(np.sort(perm[:n])), mc.take(np.sort(perm[n:2 * n]))
    return compare_events(a, b, pmts, seed=seed, **compare_kw)
