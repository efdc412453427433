"""Configuration of a dashboard server (:class:`DashboardConfig`).

Every setting has an embedded default, so ``panel serve dashboard/app.py`` runs
with no configuration: the shipped classifier and its templates, a simulated
live feed produced in-process, the default SQLite catalog.  A control room sets
``KAMDASH_*`` environment variables (one per parameter, upper-case name), e.g.::

    KAMDASH_PRODUCER=external KAMDASH_STORE=/data/kamdash_live \\
    KAMDASH_CATALOG=postgresql://kamdash@db/kamdash panel serve dashboard/app.py

>>> DashboardConfig.from_env({"KAMDASH_RATE_HZ": "10", "KAMDASH_PRODUCER": "external"}).rate_hz
10.0
"""

from __future__ import annotations

import os
from pathlib import Path

import param

from kamcore.config import JsonConfig
from kamcore.errors import ConfigError

__all__ = ["DashboardConfig", "resolve_asset"]


def resolve_asset(name: str, suffix: str = ".json") -> Path:
    """``name`` as a path, or the shipped asset of that name (:func:`kamcore._assets.find_asset`)."""
    from kamcore._assets import find_asset

    return find_asset(name, suffix)


class DashboardConfig(JsonConfig):
    """What one dashboard server shows and where it reads it from."""

    model = param.String(default="kamnet_bi214", doc=(
        "Classifier checkpoint scoring the live events: a path or a shipped name in assets/."))
    companions = param.String(default="", doc=(
        "Comma-separated classifiers (paths or shipped names) the embedded producer also runs on every event, "
        "e.g. the KamNet trained on C10 beside the Bi214 one: the Attention page can show each one's attention."))
    templates = param.String(default="", doc=(
        "Score templates of that model ('kamcore runs templates'); default: assets/templates_<model>.json."))
    catalog = param.String(default="", doc=(
        "Run catalog URL or SQLite path; default $KAMDASH_CATALOG or the user's data directory."))
    store = param.String(default="", doc=(
        "Live-store directory; default $XDG_DATA_HOME/kamdash/live (next to the default catalog)."))
    producer = param.Selector(default="embedded", objects=["embedded", "external"], doc=(
        "'embedded': this server runs the producer (simulated feed) unless another process already "
        "holds the store; 'external': only read what 'kamcore monitor' writes."))
    rate_hz = param.Number(default=2.0, bounds=(0.01, 1000.0), doc="Embedded feed: events per second.")
    run_length = param.Integer(default=200, bounds=(10, None), doc="Embedded feed: mean events per run.")
    history_runs = param.Integer(default=16, bounds=(0, None), doc=(
        "Embedded feed: runs simulated at full speed when the catalog has none for this model, so the "
        "Runs view has a history from the start."))
    seed = param.Integer(default=0, bounds=(0, None), doc="Embedded feed: seed of runs and convection periods.")
    dead_pmts = param.String(default="", doc=(
        "Embedded feed: comma-separated PMT ids simulated dead (no hits), to try the Health page."))
    hot_pmts = param.String(default="", doc=(
        "Embedded feed: comma-separated PMT ids simulated hot (a noise hit in half of the events)."))
    producer_nice = param.Integer(default=0, bounds=(0, 19), doc=(
        "Embedded producer: its niceness (Unix; 0: as the server).  Raised, the sessions' page builds and "
        "redraws come before its scoring, but on a host where other processes are busy (a browser on the "
        "same machine, tests) it falls behind: at 10 the 10 Hz feed starved into STALE on a busy 2-core host."))
    poll_s = param.Number(default=0.2, bounds=(0.02, 10.0), doc=(
        "Seconds between live-store polls (one poller per server) and between session refreshes."))
    buffer_events = param.Integer(default=1000, bounds=(10, None), doc=(
        "Latest live events kept in server memory (shared by all sessions)."))
    stale_s = param.Number(default=30.0, bounds=(1.0, 86400.0), doc=(
        "The feed is STALE when no event arrived for this many seconds (experts can change it in the page)."))
    restart_s = param.Number(default=2.0, bounds=(0.1, 3600.0), doc=(
        "Embedded producer: first wait before restarting it after it exited; doubled per quick failure, "
        "at most 30 times this."))
    experts = param.String(default="", doc=(
        "Comma-separated user names (of 'panel serve --basic-auth') who may change thresholds in the page."))
    heatmap_events = param.Integer(default=50, bounds=(1, 1000), doc="Attention heatmap: latest events shown.")
    vae = param.String(default="vae_xe136", doc="VAE checkpoint of the Real-vs-generated view (path or shipped name).")
    gan = param.String(default="gan_xe136", doc="GAN checkpoint of the Real-vs-generated view (path or shipped name).")
    generated_events = param.Integer(default=300, bounds=(10, 20000), doc=(
        "Real vs generated: events per sample (Monte Carlo and generated each)."))

    @classmethod
    def from_env(cls, environ=None) -> "DashboardConfig":
        """Defaults overridden by ``KAMDASH_<NAME>`` variables (bad values: one-line ConfigError)."""
        environ = os.environ if environ is None else environ
        values = {}
        for name, par in cls.param.objects("existing").items():
            raw = environ.get("KAMDASH_" + name.upper())
            if name == "name" or raw is None:
                continue
            try:
                if isinstance(par, param.Integer):
                    values[name] = int(raw)
                elif isinstance(par, param.Number):
                    values[name] = float(raw)
                else:
                    values[name] = raw
            except ValueError:
                raise ConfigError(f"KAMDASH_{name.upper()}={raw!r}: not a {type(par).__name__.lower()}") from None
        try:
            return cls(**values)
        except ValueError as exc:
            raise ConfigError(f"dashboard configuration: {' '.join(str(exc).split())}") from None

    def restart_backoff(self) -> tuple[float, ...]:
        """Waits before restart attempts 1, 2, ...: ``restart_s`` doubled up to 30 x (the last repeats).

        >>> DashboardConfig(restart_s=2).restart_backoff()
        (2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
        """
        out, w = [], float(self.restart_s)
        while w < 30 * self.restart_s:
            out.append(w)
            w *= 2
        return (*out, 30.0 * self.restart_s)

    def model_path(self) -> Path:
        return resolve_asset(self.model)

    def companion_paths(self) -> list[Path]:
        """The checkpoints of :attr:`companions`, in order."""
        return [resolve_asset(c.strip()) for c in self.companions.split(",") if c.strip()]

    def templates_path(self) -> Path:
        if self.templates:
            return resolve_asset(self.templates, "")
        return resolve_asset(f"templates_{Path(self.model).name}.json", "")

    def store_path(self) -> Path:
        if self.store:
            return Path(self.store).expanduser()
        from kamcore.catalog.store import default_catalog_path

        return default_catalog_path().with_name("live")
