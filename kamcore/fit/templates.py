"""Score templates: histograms of Monte Carlo scores per component, tied to the model that made them.

A template of component ``k`` is the histogram ``t_k,i`` (``i = 0..K-1``) of the
classifier scores of ``N_k`` selected Monte Carlo events of that component, on
the bin edges ``x_0 < ... < x_K`` (``FitConfig.bins`` equal bins on
``[score_min, score_max]``; scores outside are not counted).  Raw counts are
kept (not densities): :class:`iminuit.cost.Template` needs them to know each
bin's Monte Carlo uncertainty ``sqrt(t_k,i)``.

A :class:`Templates` set records the model identity (``name``, ``kind``,
``digest`` = SHA-256 of the weights file, first 16 hex digits) and the
selection, and has its own ``digest`` over edges, counts and model: that is the
"template version" stored with every fit in the catalog.

File format (JSON, written atomically): ``{"format": "kamdash.templates",
"version": 1, "edges": [...], "counts": {component: [...]}, "model": {...},
"meta": {...}}``.

Rates.  The fit of a run constrains some yields to ``r_k T`` (``FitConfig.constraints``: rate
``r_k`` in the selection, events per hour, times the run's live time ``T``), so templates are
only right for runs at the rates they assume.  ``meta["rates_per_hour"]`` (source -> events per
hour, written by ``kamcore runs templates``) records them; :meth:`Templates.fit_config` takes its
constraint rates from there.  Files without the record assume :data:`DEFAULT_RATES_PER_HOUR`, the
rates of a default :class:`kamcore.runs.RunSimConfig` run, which the default
``FitConfig.constraints`` are.  :meth:`Templates.check_rate` warns (:class:`~kamcore.errors.RateWarning`)
when a run's event count is far from what the constraints of its fit imply (criterion there).

>>> import numpy as np
>>> t = Templates.from_scores({"a": np.array([0.1, 0.2]), "b": np.array([0.9])}, np.linspace(0, 1, 5),
...                           model={"name": "toy", "kind": "toy", "digest": "0"})
>>> t.counts["a"].tolist(), t.n_bins
([2.0, 0.0, 0.0, 0.0], 4)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import ConfigError, EventFileError, RateWarning, SchemaError
from ..models.identity import model_identity
from .config import FitConfig

__all__ = ["Templates", "model_identity", "score_edges", "DEFAULT_RATES_PER_HOUR", "RATE_SIGMA", "RATE_FACTOR"]

_FORMAT = "kamdash.templates"
_VERSION = 1

#: source -> rate in the selection, events per hour, of templates whose file does not record its rates: a
#: default ``RunSimConfig()`` run (400 selected events per 86400 s, its composition), rounded to 1e-4 /h
#: as the default ``FitConfig.constraints`` (``tests/fit/test_templates.py`` checks both)
DEFAULT_RATES_PER_HOUR = {"Xe136_2vbb": 9.1667, "Solar_nu": 0.8333, "Bi214": 2.5, "Bi214_film": 2.5, "C10": 1.6667}
#: :meth:`Templates.check_rate` warns beyond this many Poisson standard deviations ...
RATE_SIGMA = 5.0
#: ... when the observed / expected event ratio is also outside [1 / RATE_FACTOR, RATE_FACTOR]
RATE_FACTOR = 2.0


def score_edges(config: FitConfig) -> np.ndarray:
    """``(bins+1,) float64`` equal-width score bin edges of ``config``."""
    config.validate()
    return np.linspace(config.score_min, config.score_max, config.bins + 1)


@dataclasses.dataclass(frozen=True, eq=False)
class Templates:
    """Per-component score histograms on common edges.

    Parameters
    ----------
    edges : (K+1,) float64
        Score bin edges.
    counts : dict of str -> (K,) float64
        Monte Carlo events per bin of each component.
    model : dict
        ``{"name", "kind", "digest"}`` of the scoring model.
    meta : dict
        Free-form provenance (selection, seeds, events simulated, command).
    """

    edges: np.ndarray
    counts: dict
    model: dict
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        edges = np.asarray(self.edges, np.float64)
        if edges.ndim != 1 or len(edges) < 3 or np.any(np.diff(edges) <= 0):
            raise ConfigError(f"template edges must be >= 3 increasing values, got {edges.tolist()}")
        counts = {}
        for k, c in self.counts.items():
            c = np.asarray(c, np.float64)
            if c.shape != (len(edges) - 1,):
                raise ConfigError(f"template {k!r} has shape {c.shape}, edges need ({len(edges) - 1},)")
            if np.any(c < 0) or not np.isfinite(c).all():
                raise ConfigError(f"template {k!r} has negative or non-finite counts")
            counts[str(k)] = c
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "counts", counts)
        for key in ("name", "kind", "digest"):
            if key not in self.model:
                raise ConfigError(f"template model identity lacks {key!r}: {self.model}")

    # ----------------------------------------------------------------- build
    @classmethod
    def from_scores(cls, scores: dict[str, np.ndarray], edges: np.ndarray, *, model: dict,
                    meta: dict | None = None) -> "Templates":
        """Histogram each component's scores ``(N_k,)`` on ``edges`` (:func:`numpy.histogram`)."""
        edges = np.asarray(edges, np.float64)
        counts = {k: np.histogram(np.asarray(s, np.float64), bins=edges)[0].astype(np.float64)
                  for k, s in scores.items()}
        return cls(edges, counts, dict(model), dict(meta or {}))

    # ---------------------------------------------------------------- access
    @property
    def components(self) -> list[str]:
        return list(self.counts)

    @property
    def n_bins(self) -> int:
        return len(self.edges) - 1

    @property
    def digest(self) -> str:
        """Template version: SHA-256 (16 hex digits) of edges, counts and model identity."""
        doc = {"edges": self.edges.tolist(), "counts": {k: v.tolist() for k, v in sorted(self.counts.items())},
               "model": self.model}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def check_model(self, model, where: str | os.PathLike | None = None) -> None:
        """Refuse scores of another model: ``model`` is a :class:`kamcore.models.Model`, a
        :class:`kamcore.models.Scores` or an identity dict ``{"name", "kind", "digest"}``.

        Raises :class:`ConfigError` naming both identities (and ``where``, the templates file).
        """
        ident = getattr(model, "identity", model)
        if not isinstance(ident, dict) or "digest" not in ident:
            raise ConfigError(f"not a model identity: {ident!r}")
        if ident["digest"] != self.model["digest"]:
            head = f"{where}: " if where else ""
            raise ConfigError(f"{head}templates were made with model {self.model['name']}@{self.model['digest']}, "
                              f"the scores come from {ident.get('name')}@{ident['digest']}")

    def check_binning(self, config: FitConfig) -> None:
        """Raise ConfigError unless ``config``'s binning equals the templates' and its components exist."""
        want = score_edges(config)
        if len(want) != len(self.edges) or not np.allclose(want, self.edges, rtol=0, atol=1e-9):
            raise ConfigError(f"templates have {self.n_bins} bins on [{self.edges[0]:g}, {self.edges[-1]:g}], "
                              f"FitConfig asks for {config.bins} on [{config.score_min:g}, {config.score_max:g}]")
        missing = [c for c in config.components if c not in self.counts]
        if missing:
            raise ConfigError(f"no template for component(s) {missing}; templates have {self.components}")
        empty = [c for c in config.components if self.counts[c].sum() <= 0]
        if empty:
            raise ConfigError(f"template(s) {empty} are empty in [{self.edges[0]:g}, {self.edges[-1]:g}]")

    @property
    def rates_per_hour(self) -> dict[str, float]:
        """Source -> rate in the selection, events per hour, that runs fitted with these templates are assumed
        to have: ``meta["rates_per_hour"]``, or :data:`DEFAULT_RATES_PER_HOUR` for files without it."""
        rates = self.meta.get("rates_per_hour")
        return {str(k): float(v) for k, v in rates.items()} if isinstance(rates, dict) else dict(DEFAULT_RATES_PER_HOUR)

    def fit_config(self, **overrides) -> FitConfig:
        """A :class:`FitConfig` with these templates' binning (and ``overrides``); its constraint rates are
        :attr:`rates_per_hour` (the relative uncertainties of ``FitConfig.constraints``) when the file records
        rates, else ``FitConfig``'s defaults (the same rates)."""
        kw = {"bins": self.n_bins, "score_min": float(self.edges[0]), "score_max": float(self.edges[-1])}
        if isinstance(self.meta.get("rates_per_hour"), dict):
            rates = self.rates_per_hour
            kw["constraints"] = {c: [rates[c], float(rel)] for c, (_, rel) in FitConfig().constraints.items()
                                 if c in rates}
        kw.update(overrides)
        try:
            return FitConfig(**kw).validate()
        except ValueError as exc:
            raise ConfigError(f"FitConfig: {exc}") from None

    def expected_events(self, config: FitConfig, livetime_s: float) -> float | None:
        """Selected events ``lambda`` a run of ``livetime_s`` seconds holds at the rates ``config``'s yield
        constraints assume, or None when it constrains no yield (or a constrained source has no rate here).

        ``lambda = (sum_c r_c T / 3600) / phi``: the constrained sources' expected events ``r_c T`` (``r_c``
        from ``config.constraints``, events per hour) divided by their share ``phi = sum_c R_c / sum_k R_k``
        of all events at :attr:`rates_per_hour` ``R``; with the templates' own rates it is ``sum_k R_k T``.
        """
        rates = self.rates_per_hour
        cons = config.constraints
        if not cons or any(c not in rates for c in cons) or not livetime_s or livetime_s <= 0:
            return None
        share = sum(rates[c] for c in cons) / sum(rates.values())
        if share <= 0:
            return None
        return sum(float(r) for r, _ in cons.values()) * float(livetime_s) / 3600.0 / share

    def check_rate(self, n_events: float, livetime_s: float | None, config: FitConfig | None = None, *,
                   run=None) -> str | None:
        """Warn (:class:`~kamcore.errors.RateWarning`, one line naming the run) when ``n_events`` selected events
        in ``livetime_s`` seconds are far from the ``lambda`` of :meth:`expected_events`; returns the message,
        or None when the rate is consistent or nothing is assumed (no constraints, no live time).

        Far: beyond :data:`RATE_SIGMA` Poisson standard deviations, ``|n - lambda| > 5 sqrt(lambda)``, and off
        by more than :data:`RATE_FACTOR`, ``n / lambda`` outside [1/2, 2].  The first keeps statistical
        fluctuations silent at any run length; the second keeps a background excess silent (a convection
        period raising 214Bi 3x gives 1.6x the events) -- judging that is the fit's and the flags' job.

        >>> t = Templates([0, 0.5, 1], {"a": [1, 1]}, {"name": "m", "kind": "cnn", "digest": "0"})
        >>> cfg = FitConfig(components=["Xe136_2vbb"], background=[], constraints={"Xe136_2vbb": [9.1667, 0.05]})
        >>> round(t.expected_events(cfg, 86400.0))
        400
        >>> t.check_rate(400, 86400.0, cfg, run=1) is None
        True
        """
        if livetime_s is None or not np.isfinite(livetime_s):
            return None
        config = config or self.fit_config()
        lam = self.expected_events(config, livetime_s)
        if lam is None:
            return None
        n = float(n_events)
        if abs(n - lam) <= RATE_SIGMA * np.sqrt(lam) or lam / RATE_FACTOR <= n <= lam * RATE_FACTOR:
            return None
        where = "these templates' rates" if isinstance(self.meta.get("rates_per_hour"), dict) else \
            "the default RunSimConfig rates (the templates file records none)"
        msg = (f"run {run}: {n:.0f} events in {livetime_s:g} s ({3600 * n / livetime_s:.3g}/h), the fit's yield "
               f"constraints assume {lam:.1f} ({3600 * lam / livetime_s:.3g}/h, {where}; "
               f"{(n - lam) / np.sqrt(lam):+.0f} sigma): its yields and background fraction are biased; give the "
               "run's rates (FitConfig.constraints, 'runs fit --constraint') or fit without constraints")
        warnings.warn(RateWarning(msg), stacklevel=2)
        return msg

    # -------------------------------------------------------------------- I/O
    def to_dict(self) -> dict:
        return {"format": _FORMAT, "version": _VERSION, "edges": self.edges.tolist(),
                "counts": {k: v.tolist() for k, v in self.counts.items()}, "model": self.model,
                "meta": self.meta, "digest": self.digest}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSON file atomically; returns ``path``."""
        from ..io import atomic_output

        text = json.dumps(self.to_dict(), indent=1, default=float)
        with atomic_output(path) as tmp:
            Path(tmp).write_text(text + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Templates":
        """Read a file written by :meth:`save`; errors name the file."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise EventFileError(f"{path}: no such templates file") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise EventFileError(f"{path}: not a templates file ({type(exc).__name__})") from None
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else None
            raise SchemaError(f"{path}: not a templates file (format {found!r}, expected {_FORMAT!r})")
        if doc.get("version") != _VERSION:
            raise SchemaError(f"{path}: templates version {doc.get('version')!r}, this kamcore reads {_VERSION}")
        missing = [k for k in ("edges", "counts", "model") if k not in doc]
        if missing:
            raise SchemaError(f"{path}: templates file lacks {', '.join(map(repr, missing))}")
        meta = doc.get("meta", {})
        for key, want, value in (("edges", list, doc["edges"]), ("counts", dict, doc["counts"]),
                                 ("model", dict, doc["model"]), ("meta", dict, meta)):
            if not isinstance(value, want):
                raise SchemaError(f"{path}: templates {key!r} must be a JSON {'array' if want is list else 'object'}, "
                                  f"got {type(value).__name__}")
        rates = meta.get("rates_per_hour")
        if rates is not None and not (isinstance(rates, dict) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v >= 0
                for v in rates.values())):
            raise SchemaError(f"{path}: meta 'rates_per_hour' must map sources to rates >= 0 (events per hour), "
                              f"got {rates!r}")
        try:
            return cls(doc["edges"], doc["counts"], doc["model"], meta)
        except (TypeError, ValueError) as exc:  # ConfigError included; numpy: values that are not numbers
            raise SchemaError(f"{path}: {' '.join(str(exc).split())}") from None

    def __repr__(self) -> str:
        n = {k: int(v.sum()) for k, v in self.counts.items()}
        return f"Templates({self.n_bins} bins, model={self.model['name']}@{self.model['digest']}, events={n})"
