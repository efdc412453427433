"""The Attention page on a small real world scored by a shipped KamNet (no browser)."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.selection import Selection


@pytest.fixture(scope="module")
def kamnet_world(tmp_path_factory):
    """Two simulated runs of 30 events scored by the shipped KamNet, fitted into a SQLite catalog."""
    import torch

    from dashboard.backend import Backend
    from dashboard.config import DashboardConfig
    from kamcore.catalog import Catalog
    from kamcore.fit import Templates
    from kamcore.monitor import LiveStore, MonitorConfig, Producer, SimulatedFeed

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("kamnet_world")
    cfg = DashboardConfig(model="kamnet_cpu", producer="external", store=str(tmp / "live"),
                          catalog=f"sqlite:///{tmp / 'cat.sqlite'}", generated_events=40, companions="kamnet_bi214")
    feed = SimulatedFeed(MonitorConfig(rate_hz=1e5, run_length=30, batch_events=30, seed=5,
                                       convection_probability=0.0))
    with LiveStore(cfg.store_path(), max_events=500, writable=True) as store:
        Producer(feed, store, Catalog(cfg.catalog), cfg.model_path(), Templates.load(cfg.templates_path()),
                 companions=cfg.companion_paths()).run(max_runs=2)
    backend = Backend(cfg, start=False)
    backend.buffer.poll()
    return backend


def test_bars_and_heatmap_show_the_stored_attention_on_the_fixed_log2_scale(kamnet_world):
    from dashboard.views import AttentionView
    from dashboard.views.attention import LOG2_RANGE

    b = kamnet_world
    assert b.has_attention
    v = AttentionView(backend=b, selection=Selection())
    assert v.refresh()
    newest = b.buffer.event(None)
    att = newest.attention[0] / newest.attention[0].sum()
    np.testing.assert_allclose(v._bar_src.data["att"], att, rtol=1e-6)
    want = np.clip(np.log2(att * len(att)), -LOG2_RANGE, LOG2_RANGE)
    np.testing.assert_allclose(v._bar_src.data["ratio"], want, atol=1e-6)
    assert (v._mapper.low, v._mapper.high) == (-LOG2_RANGE, LOG2_RANGE)  # one scale for every event
    rgb = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (v._mapper.palette[0], v._mapper.palette[-1])]
    assert rgb[0][2] > rgb[0][0] and rgb[1][0] > rgb[1][2]  # below uniform blue, above red (seen inverted once)
    address = f"{int(newest.events.run[0])}:{int(newest.events.event_id[0])}"
    assert v.shown_address == address and address in v._bar_fig.title.text
    img = v._heat_src.data["image"][0]
    assert img.shape == (min(v.n_events, len(b.buffer)), len(att))
    assert (v._heat_mapper.low, v._heat_mapper.high) == (-LOG2_RANGE, LOG2_RANGE)
    assert not np.allclose(img[0], img[1])  # two events, two attention rows
    assert not v.refresh()  # nothing new: nothing redrawn


def test_an_event_address_that_left_the_buffer_is_read_from_the_run_files(kamnet_world):
    from dashboard.backend import Backend
    from dashboard.views import AttentionView

    values = {k: val for k, val in kamnet_world.config.param.values().items() if k != "name"}
    small = Backend(type(kamnet_world.config)(**{**values, "buffer_events": 10}), start=False)
    small.buffer.poll()
    assert small.buffer.find(1, 4) is None
    held = kamnet_world.buffer.find(1, 4)
    v = AttentionView(backend=small, selection=Selection(event="1:4"))
    assert v.refresh() and v.shown_address == "1:4"
    assert "read from the run file" in v._bar_fig.title.text
    np.testing.assert_allclose(v._bar_src.data["att"], held.attention[0] / held.attention[0].sum(), rtol=1e-5)
    assert not v.refresh()  # the run file is not read again every tick
    bad = AttentionView(backend=small, selection=Selection(event="1:99999"))
    bad.refresh()
    assert "no event with run 1, event id 99999" in bad._info.object


def test_the_pages_draw_events_on_the_served_models_maps(kamnet_world):
    """Live and Attention build their event display from the model's recorded input (grid, time slices,
    vertex method), one shared display per configuration."""
    from dashboard.views import AttentionView, LiveView
    from dashboard.views.common import EventDisplay

    want = kamnet_world.input_config
    assert want.vertex == "centroid"  # kamnet_cpu: a checkpoint of the old chain, before the record
    for view in (AttentionView(backend=kamnet_world), LiveView(backend=kamnet_world)):
        assert view.display.config.to_json() == want.to_json()
    assert EventDisplay(want) is EventDisplay(type(want).from_json(want.to_json()))


def test_the_model_selector_shows_a_companion_kamnets_attention_and_its_profiles(kamnet_world):
    """With a companion KamNet (here the shipped Bi214 one beside kamnet_cpu) every picture follows the chosen
    model: the event's bars, the heatmap rows and the per-source profiles of that model's results file."""
    import json

    from dashboard.backend import Backend
    from dashboard.config import resolve_asset
    from dashboard.views import AttentionView
    from dashboard.views.attention import _fractions, _log2_ratio

    b = kamnet_world
    assert b.attention_models() == ["kamnet_cpu", "kamnet_bi214"]
    v = AttentionView(backend=b, selection=Selection())
    assert v.model == "kamnet_cpu" and v._chooser.visible and v._chooser.options == ["kamnet_cpu", "kamnet_bi214"]
    v.refresh()
    newest = b.buffer.event(None)
    own = v._bar_src.data["att"].copy()
    v._chooser.value = "kamnet_bi214"  # the crew's click
    assert v.model == "kamnet_bi214"
    comp = newest.companions["kamnet_bi214"][1][0]
    np.testing.assert_allclose(v._bar_src.data["att"], comp / comp.sum(), rtol=1e-6)
    assert not np.allclose(own, v._bar_src.data["att"])  # two models, two attentions of one event
    recent = b.buffer.latest(v.n_events)
    np.testing.assert_allclose(v._heat_src.data["image"][0],
                               _log2_ratio(_fractions(recent.companions["kamnet_bi214"][1])), atol=1e-6)
    assert "kamnet_bi214" in v._bar_fig.title.text and "kamnet_bi214" in v._class_fig.title.text
    shipped = json.loads(resolve_asset("kamnet_bi214_results.json", "").read_text())["models"]["kamnet_bi214"]
    assert len(v._class_fig.renderers) == len(shipped["attention_by_source"]) > 0
    ys = sorted(np.asarray(r.data_source.data["y"]).tolist() for r in v._class_fig.renderers)
    want = sorted(_fractions(np.asarray(p)).tolist() for p in shipped["attention_by_source"].values())
    np.testing.assert_allclose(ys, want, atol=1e-6)
    v._chooser.value = "kamnet_cpu"
    np.testing.assert_allclose(v._bar_src.data["att"], own)
    # an event read back from its run files has the fits' model's attention only: said, drawn uniform
    values = {k: val for k, val in b.config.param.values().items() if k != "name"}
    small = Backend(type(b.config)(**{**values, "buffer_events": 10}), start=False)
    small.buffer.poll()
    old = AttentionView(backend=small, selection=Selection(event="1:4"), model="kamnet_bi214")
    assert old.refresh() and "No attention of kamnet_bi214 is stored for this event" in old._info.object
    np.testing.assert_allclose(old._bar_src.data["att"], 1 / 28)
