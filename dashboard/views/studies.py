"""Studies view: the KamNet paper's physics studies as run by ``kamcore study`` on our models, each
beside the paper's numbers.

One card per results file ``<study>.json`` in the studies directory (default: the repository's
``docs/studies/``, where the results of the shipped models are committed): the command that made
it, the table of our numbers against the paper's (``comparison``), the caveats, and its PNG
figures.  The view only reads and formats the files; every number comes from :mod:`kamcore.studies`.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import panel as pn
import param
from panel.viewable import Viewer

from ..selection import Selection

__all__ = ["StudiesView", "read_studies", "DEFAULT_STUDIES_DIR"]

DEFAULT_STUDIES_DIR = Path(__file__).resolve().parents[2] / "docs" / "studies"

#: display order of the studies (paper order); unknown results files follow
ORDER = ["pressure_map", "sensitivity", "fiducial", "excited_states", "attention"]

_CACHE: dict = {}


def read_studies(directory) -> dict[str, dict]:
    """``{study: results document}`` of every ``*.json`` results file in ``directory`` (cached per file
    modification time; unreadable files are reported as ``{"error": ...}``)."""
    d = Path(directory)
    files = sorted(d.glob("*.json")) if d.is_dir() else []
    key = (str(d), tuple((f.name, f.stat().st_mtime_ns) for f in files))
    if key not in _CACHE:
        docs = {}
        for f in files:
            try:
                doc = json.loads(f.read_text())
            except (OSError, ValueError) as exc:
                docs[f.stem] = {"error": f"{f.name}: {type(exc).__name__}"}
                continue
            if isinstance(doc, dict) and "comparison" in doc:
                docs[doc.get("study", f.stem)] = doc
        _CACHE.clear()
        _CACHE[key] = dict(sorted(docs.items(), key=lambda kv: (ORDER.index(kv[0]) if kv[0] in ORDER else 99, kv[0])))
    return _CACHE[key]


def _fmt(value, unit: str) -> str:
    if value is None:
        return "&mdash;"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return html.escape(str(value))
    if unit == "fraction":
        return f"{100 * value:.1f}%"
    if unit == "cm":
        return f"{value:.1f} cm"
    if isinstance(value, int):
        return f"{value}"
    return f"{value:.4g}"


def _table(doc: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(str(r.get('quantity', '')))}</td><td class='kd-ours'><b>{_fmt(r.get('ours'), r.get('unit', ''))}</b></td>"
        f"<td class='kd-paper'>{_fmt(r.get('paper'), r.get('unit', ''))}</td>"
        f"<td><small>{html.escape(str(r.get('note') or ''))}</small></td></tr>"
        for r in doc.get("comparison", []))
    return ("<table class='table table-sm kd-study-table'><tr><th>quantity</th><th>ours</th><th>paper</th>"
            f"<th>note</th></tr>{rows}</table>")


def _card(name: str, doc: dict, directory: Path):
    if "error" in doc:
        return pn.pane.HTML(f"<div class='alert alert-warning'>{html.escape(doc['error'])}</div>",
                            sizing_mode="stretch_width")
    caveats = "".join(f"<li>{html.escape(c)}</li>" for c in doc.get("caveats", []))
    took = "" if doc.get("seconds") is None else f", {doc['seconds'] / 60:.1f} min"
    head = (f"<div class='kd-caption kd-study' data-study='{html.escape(name)}'>"  # the card header has the title
            f"<small>Beside {html.escape(str(doc.get('paper_figure', 'the paper')))}. Made by "
            f"<code>{html.escape(str(doc.get('command') or '?'))}</code> on {html.escape(str(doc.get('created_utc')))}"
            f"{took}.</small></div>")
    figs = [pn.pane.PNG(str(directory / f), sizing_mode="scale_width", max_width=1100)
            for f in doc.get("figures", []) if (directory / f).exists()]
    return pn.Card(pn.pane.HTML(head + _table(doc) + (f"<ul class='kd-caveats'><small>{caveats}</small></ul>"
                                                      if caveats else ""), sizing_mode="stretch_width"),
                   *figs, title=doc.get("title", name), sizing_mode="stretch_width", collapsed=False)


class StudiesView(Viewer):
    """The Studies page (importable: ``StudiesView(backend=..., selection=..., directory=...)``)."""

    backend = param.Parameter(doc="dashboard.backend.Backend (unused: the studies are files)")
    selection = param.ClassSelector(class_=Selection, doc="Shared selection of the session.")
    directory = param.String(default=str(DEFAULT_STUDIES_DIR), doc="Directory of the studies' results files.")
    check_s = param.Number(default=10.0, bounds=(0.0, None), doc="Seconds between checks for new results files.")

    def __init__(self, **params):
        params.setdefault("selection", Selection())
        super().__init__(**params)
        self._body = pn.Column(sizing_mode="stretch_width")
        self._key = None
        self._checked = 0.0
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> bool:
        """Redraw when a results file was added or changed (checked at most every ``check_s``)."""
        now = time.monotonic()
        if not force and now - self._checked < self.check_s:
            return False
        self._checked = now
        docs = read_studies(self.directory)
        key = tuple((k, d.get("created_utc")) for k, d in docs.items())
        if key == self._key:
            return False
        self._key = key
        d = Path(self.directory)
        if not docs:
            self._body.objects = [pn.pane.HTML(
                f"<div class='alert alert-info'>No study results in <code>{html.escape(str(d))}</code>: run "
                "<code>kamcore study ... --out DIR</code>.</div>", sizing_mode="stretch_width")]
        else:
            self._body.objects = [_card(k, v, d) for k, v in docs.items()]
        return True

    def __panel__(self):
        caption = pn.pane.HTML(
            "<div class='kd-caption'><b>Physics studies.</b> The KamNet paper's studies (pressure map, sensitivity "
            "boost, fiducial volume, excited states, attention) run by <code>kamcore study</code> on our models and "
            "our fast Monte Carlo, each number beside the paper's. Differences are expected: our simulation is not "
            "the collaboration's, and the caveats say where and why.</div>", sizing_mode="stretch_width")
        return pn.Column(caption, self._body, sizing_mode="stretch_width")
