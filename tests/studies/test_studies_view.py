"""The dashboard's Studies view renders stored results files (no browser; the browser test is in
tests/dashboard/test_browser.py)."""

from html import unescape
from pathlib import Path

import pytest

from kamcore.studies._common import comparison_row, new_figure, save_figure, write_results

pytest.importorskip("panel")

ROOT = Path(__file__).resolve().parents[2]


def _html(view) -> str:
    import panel as pn

    out = []

    def walk(obj):
        if isinstance(obj, pn.pane.HTML):
            out.append(str(obj.object))
        for child in getattr(obj, "objects", []) or []:
            walk(child)
    walk(view.__panel__())
    return "\n".join(out)


def test_view_shows_ours_beside_the_papers_numbers(tmp_path):
    from dashboard.views import StudiesView

    fig, (ax,) = new_figure()
    ax.plot([0, 1], [0, 1])
    png = save_figure(fig, tmp_path, "sensitivity", "curve")
    write_results(tmp_path, "sensitivity", {
        "title": "Sensitivity boost", "command": "kamcore study sensitivity --out x", "paper_figure": "eq. 5",
        "comparison": [comparison_row("boost at 90%", 0.0123, 0.022, "fraction"),
                       comparison_row("radius", 161.25, 165.8, "cm")],
        "figures": [png], "caveats": ["our simulation is not the collaboration's"]})
    (tmp_path / "broken.json").write_text("{not json")
    view = StudiesView(directory=str(tmp_path))
    html = _html(view)
    assert "Physics studies" in html and "kd-caption" in html
    assert "1.2%" in html and "2.2%" in html and "161.2 cm" in html and "165.8 cm" in html
    assert "kamcore study sensitivity --out x" in html and "not the collaboration" in html
    assert "broken.json: JSONDecodeError" in html
    assert view.refresh() is False  # nothing changed (and checked at most every check_s)


def test_view_without_results_says_how_to_make_them(tmp_path):
    from dashboard.views import StudiesView

    assert "kamcore study" in _html(StudiesView(directory=str(tmp_path / "none")))


def test_committed_results_render():
    from dashboard.views import StudiesView
    from dashboard.views.studies import DEFAULT_STUDIES_DIR, read_studies

    docs = read_studies(DEFAULT_STUDIES_DIR)
    if not docs:
        pytest.skip("no committed study results")
    html = _html(StudiesView())
    for name, doc in docs.items():
        assert f"data-study='{name}'" in html and doc["comparison"][0]["quantity"] in unescape(html)
