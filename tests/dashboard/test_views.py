"""The views on a small real world (no browser): what each draws is what kamcore computed."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.selection import Selection


def test_backend_reads_the_store_and_the_catalog(world):
    b = world
    assert len(b.buffer) >= 60 and b.buffer.seq == len(b.buffer)
    runs = b.runs()
    assert [r["run"] for r in runs] == [1, 2, 3]
    assert all(r["fit"] is not None and r["fit"]["model"]["digest"] == b.model["digest"] for r in runs)
    assert all(r["fit"]["status"] == "ok" for r in runs)
    newest = b.buffer.event()
    assert int(newest.seq[0]) == b.buffer.seq
    assert b.buffer.event(1).seq.tolist() == [1] and b.buffer.event(10**9) is None
    s, wall = b.buffer.run_scores(2)
    assert len(s) == runs[1]["n_events"] == len(wall)


def test_live_view_draws_the_selected_event(world):
    from dashboard.views import LiveView

    sel = Selection(event="5")  # a bare number: a live sequence number (links of earlier versions)
    v = LiveView(backend=world, selection=sel)
    assert v.refresh() and v.shown_seq == 5
    ev = world.buffer.event(5)
    hits = v._hits.data
    assert len(hits["x"]) == len(np.unique(ev.events.pmt))  # one marker per hit PMT
    assert v._tau_src is None  # the lower row waits for the page (onload); in a notebook it comes at once
    v.__panel__()
    assert sum(np.asarray(v._tau_src.data["hits"])) == ev.events.n_hits  # every proper time, clipped to the axis
    assert np.asarray(v._score_src.data["events"]).sum() == len(world.buffer.run_scores(int(ev.events.run[0]))[0])
    img = v._slice_src.data["image"][0]
    assert img.shape == (38, 38)
    assert v._maps.sum() == ev.events.n_hits  # the hit map holds every hit once (count maps)
    sel.color_by = "charge"
    assert np.allclose(np.sort(v._hits.data["value"]).sum(), ev.events.q_pe.sum(), rtol=1e-5)
    assert not v.refresh()  # same event: nothing redrawn


def test_pause_pins_the_event_and_follow_resumes(world):
    from dashboard.views import LiveView

    sel = Selection()
    v = LiveView(backend=world, selection=sel)
    v.refresh()
    assert v.shown_seq == world.buffer.seq
    sel.paused = True
    ev = world.buffer.event(None)
    assert sel.event == f"{int(ev.events.run[0])}:{int(ev.events.event_id[0])}"  # the permalink names the event
    assert v.shown_address == sel.event
    sel.paused = False
    assert sel.event == ""


def test_an_event_address_opens_the_event_from_the_buffer_and_after_it_left_it(world):
    """``RUN:EVENT`` links do not expire: an event no longer held is read from its run and score files,
    with the proper times the producer stored for it."""
    from dashboard.backend import Backend
    from dashboard.views import LiveView
    from kamcore.monitor import LiveStore

    v = LiveView(backend=world, selection=Selection(event="2:7"))
    assert v.refresh() and v.shown_from == "buffer" and v.shown_address == "2:7"
    held = world.buffer.find(2, 7)
    assert int(held.events.event_id[0]) == 7 and int(held.events.run[0]) == 2

    values = {k: val for k, val in world.config.param.values().items() if k != "name"}
    small = Backend(type(world.config)(**{**values, "buffer_events": 10}), start=False)
    small.buffer.poll()
    assert small.buffer.find(1, 3) is None  # run 1 has left this server's buffer
    v = LiveView(backend=small, selection=Selection(event="1:3"))
    assert v.refresh() and v.shown_from == "run file" and v.shown_address == "1:3"
    assert "read from the run file" in v._info.text and "1:3" in v._info.text
    stored = LiveStore(world.store_path).latest(10**6)
    k = int(np.flatnonzero((stored.events.run == 1) & (stored.events.event_id == 3))[0])
    want = stored.take(k)
    got = v._last_ev
    assert np.array_equal(got.events.pmt, want.events.pmt)
    assert np.allclose(got.tau_ns, want.tau_ns, atol=1e-3)
    assert float(got.score[0]) == pytest.approx(float(want.score[0]), abs=1e-6)
    bad = LiveView(backend=small, selection=Selection(event="1:99999"))
    assert not bad.refresh() and "no event with run 1, event id 99999" in bad._info.text
    junk = LiveView(backend=small, selection=Selection(event="17-3"))
    assert not junk.refresh() and "RUN:EVENT" in junk._info.text


def test_attention_view_without_attention_says_so(world):
    from dashboard.views import AttentionView

    v = AttentionView(backend=world, selection=Selection(event="7"))
    v.refresh()
    assert "no attention layer" in v._info.object
    ev = world.buffer.event(7)
    assert np.asarray(v._bar_src.data["top"]).sum() == ev.events.n_hits


def test_runs_view_stacks_the_fit_and_stores_notes(world):
    from dashboard.views import RunsView
    from kamcore.fit import RunFit

    sel = Selection(run=2)
    v = RunsView(backend=world, selection=sel)
    assert v.refresh()
    run = world.runs()[1]
    top = np.asarray(v._h_src.data[v._comps[-1]])  # the stack's top = fitted expectation
    fit = RunFit.from_dict(run["fit"]["result"])
    # yields are unbounded (kamcore.fit); a stack can only show the non-negative ones
    assert top.sum() == pytest.approx(sum(max(y, 0.0) for y in fit.yields.values()), rel=1e-6)
    assert np.asarray(v._data_src.data["n"]).sum() == run["fit"]["n_events"]
    assert list(v._f_src.data["run"]) == [1, 2, 3]
    assert "Run 2" in v._result.object
    v.author = "A. Shifter"
    v._text.value = "checked the HV of run 2"
    v._add_note("note")
    assert "checked the HV of run 2" in v._notes.object and "A. Shifter" in v._notes.object
    other = RunsView(backend=world, selection=Selection(run=2))  # another session sees it
    other.refresh()
    assert "checked the HV of run 2" in other._notes.object
    v._text.value = ""
    v.author = ""
    v._add_note("note")
    assert "needs" in v._note_msg.object  # empty author/text: a clear message, nothing stored
    sel.run = 0
    assert "Run 3" in v._result.object  # 0 = latest
    v._step(-1)
    assert sel.run == 2


def test_runs_view_names_a_one_run_period_run_n(world, monkeypatch):
    from dashboard.views import RunsView

    period = {"method": "consecutive", "n_runs": 1, "mean_fraction": 0.3, "significance": 4.0,
              "reference_fraction": 0.1}
    monkeypatch.setattr(world, "periods", lambda: [{**period, "first_run": 2, "last_run": 2},
                                                   {**period, "first_run": 1, "last_run": 3, "n_runs": 3}])
    v = RunsView(backend=world, selection=Selection(run=2))
    v.refresh()
    assert "<li>run 2 (consecutive)" in v._periods.object
    assert "<li>runs 1&ndash;3 (consecutive)" in v._periods.object and "2&ndash;2" not in v._periods.object
    shown = [(b.left, b.right) for b in v._boxes if b.visible]
    assert shown == [(1.5, 2.5), (0.5, 3.5)]  # shaded by boxes made with the figure, never added later
    assert all(b in v._f_fig.center for b in v._boxes)


def test_runs_view_shows_bad_and_incomplete_run_files_with_the_reason(world, tmp_path):
    import shutil

    from dashboard.backend import Backend
    from dashboard.views import RunsView
    from kamcore.monitor import mark_bad_file

    db = tmp_path / "cat.sqlite"  # a copy: the module's world stays as it is
    shutil.copy(world.catalog.url.removeprefix("sqlite:///"), db)
    values = {k: v for k, v in world.config.param.values().items() if k != "name"}
    b = Backend(type(world.config)(**{**values, "catalog": f"sqlite:///{db}"}), start=False)
    mark_bad_file(b.catalog, tmp_path / "run_000004.parquet", 4, "run_000004.parquet: not a Parquet file")
    mark_bad_file(b.catalog, tmp_path / "run_000005.parquet", 5, "run_000005.parquet: incomplete, no footer",
                  status="incomplete")
    v = RunsView(backend=b, selection=Selection(run=4))
    assert v.refresh()
    table = v._table.value.set_index("run")
    assert table.loc[4, "state"] == "bad file" and table.loc[4, "file problem"].endswith("not a Parquet file")
    assert table.loc[5, "state"] == "incomplete" and "no footer" in table.loc[5, "file problem"]
    assert table.loc[2, "file problem"] == "" and table.loc[2, "state"] != "bad file"
    assert "BAD FILE" in v._result.object and "unreadable run file, skipped" in v._result.object
    assert "not a Parquet file" in v._result.object
    v.selection.run = 5
    assert "still being written, retried" in v._result.object
    # the DAQ finishes run 4's file later: an older run's new state is drawn too
    b.catalog.upsert_run(4, status="incomplete", error="run_000004.parquet: incomplete, no footer")
    b._cache.clear()
    assert v.refresh()
    assert v._table.value.set_index("run").loc[4, "state"] == "incomplete"


def test_generated_view_reports_a_missing_generator_clearly(world, tmp_path):
    from dashboard.views import GeneratedView

    world.config.vae = str(tmp_path / "nope")
    world._generators.clear()
    v = GeneratedView(backend=world, selection=Selection(generator="vae"))
    v.refresh()
    assert "checkpoint not found" in v._status.object


def test_displays_tell_the_truth(world):
    """Working point from the model's results, units on the colour bar, overflow slices named, the shown run
    highlighted, run dates, unphysical fits marked (issue 19, part 6)."""
    from dashboard.views import LiveView, RunsView
    from dashboard.views.runs import run_state

    wp = world.working_point()
    assert wp is not None and 0.0 < wp["threshold"] < 1.0 and wp["acceptance"] == pytest.approx(0.9)
    v = LiveView(backend=world, selection=Selection(event="2:3"))
    v.refresh()
    score = float(v._last_ev.score[0])
    assert ("passes" if score >= wp["threshold"] else "fails") + " the 0&nu;&beta;&beta; cut" in v._info.text
    assert "signal-like" not in v._info.text
    assert v._colorbar.title == "proper time (ns)"
    v.selection.color_by = "charge"
    assert v._colorbar.title == "charge (p.e.)"
    v._player.value = 0
    assert "underflow: every hit before" in v._slice_fig.title.text
    v._player.value = v.display.n_slices - 1
    assert "overflow: every hit after" in v._slice_fig.title.text
    v._player.value = 13
    assert "flow" not in v._slice_fig.title.text

    r = RunsView(backend=world, selection=Selection(run=2))
    r.refresh()
    table = r._table.value
    assert list(table.iloc[r._table.selection]["run"]) == [2]
    assert table["start (UTC)"].str.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    run = world.runs()[1]
    res = run["fit"]["result"]
    comp = res["components"][-1]
    bad = {**run, "flags": [], "fit": {**run["fit"], "result": {
        **res, "yields": {**res["yields"], comp: -5 * res["errors"][comp]}}}}
    assert run_state(bad) == "unphysical"
    within = {**bad, "fit": {**bad["fit"], "result": {**bad["fit"]["result"], "yields": {
        **res["yields"], comp: -1.5 * res["errors"][comp]}}}}
    assert run_state(within) != "unphysical"


def test_every_run_state_has_a_colour_and_the_pages_use_kamcores_rule(world):
    """The Runs and Shift pages colour the states of kamcore.catalog's one rule (the rule of 'kamcore runs
    report'); the reference run overlaid is kamcore.catalog.reference_run's."""
    from dashboard.views import RunsView
    from dashboard.views.runs import STATE_COLOURS
    from kamcore.catalog import RUN_STATES, reference_run, run_state

    assert set(STATE_COLOURS) == set(RUN_STATES)
    assert len(set(STATE_COLOURS.values())) == len(STATE_COLOURS), "two run states share a colour"
    v = RunsView(backend=world, selection=Selection(run=3))
    v.refresh()
    table = v._table.value.set_index("run")
    assert all(table.loc[r["run"], "state"] == run_state(r) for r in world.runs())
    ref = reference_run(world.runs(), exclude=3, config=world.flag_config())
    assert (f"reference run {ref.run['run']}" in v._h_fig.title.text) if ref else "reference" not in v._h_fig.title.text
