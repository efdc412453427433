"""Alarms, acknowledgements and expert thresholds in the catalog."""

from __future__ import annotations

import numpy as np
import pytest

from kamcore.catalog import Catalog
from kamcore.errors import ConfigError
from kamcore.fit import FlagConfig
from kamcore.monitor import flag_config, raise_feed_alarm, sync_alarms


def _runs():
    return [{"run": 3, "fit": {"bkg_fraction": 0.61, "bkg_fraction_err": 0.05},
             "flags": [{"kind": "high_background", "reason": "4.2 sigma above the reference 0.40"}]},
            {"run": 4, "fit": {"bkg_fraction": 0.4, "bkg_fraction_err": 0.05}, "flags": []}]


def test_alarms_are_raised_once_per_cause_and_acked_with_their_own_text():
    cat = Catalog("sqlite://")
    periods = [{"first_run": 3, "last_run": 5, "method": "cusum", "mean_fraction": 0.6, "significance": 5.1}]
    new = sync_alarms(cat, model_digest="m", template_digest="t", runs=_runs(), periods=periods)
    assert len(new) == 2
    assert sync_alarms(cat, model_digest="m", template_digest="t", runs=_runs(), periods=periods) == []
    open_ = cat.alarms(status="open")
    assert {a["kind"] for a in open_} == {"flag", "period"}
    flag = next(a for a in open_ if a["kind"] == "flag")
    assert flag["run"] == 3 and "Run 3 flagged high background: f_bkg = 0.610" in flag["text"]
    cat.add_note("an earlier, unrelated note", author="B", run=3)
    with pytest.raises(ConfigError, match="its own text"):
        cat.ack_alarms([flag["id"]], by="A. Shifter", text="  ")
    with pytest.raises(ConfigError, match="a name"):
        cat.ack_alarms([flag["id"]], by="", text="x")
    assert cat.ack_alarms([flag["id"]], by="A. Shifter", text="convection, checked with the run coordinator") \
        == [flag["id"]]
    a = next(x for x in cat.alarms() if x["id"] == flag["id"])
    assert a["status"] == "acked" and a["acked_by"] == "A. Shifter" and a["acked_at"]
    assert a["ack_text"] == "convection, checked with the run coordinator"
    ack = [n for n in cat.notes(run=3) if n["kind"] == "ack"]
    assert len(ack) == 1 and ack[0]["text"] == "convection, checked with the run coordinator"
    assert ack[0]["status"] == "resolved" and ack[0]["resolved_by"] == "A. Shifter"
    # acknowledged once: a second ack changes nothing, and the same cause raises nothing again
    assert cat.ack_alarms([flag["id"]], by="C", text="again") == []
    assert sync_alarms(cat, model_digest="m", template_digest="t", runs=_runs(), periods=periods) == []
    assert [x["status"] for x in cat.alarms(run=3) if x["kind"] == "flag"] == ["acked"]
    with pytest.raises(ConfigError, match="no alarm with id 999"):
        cat.ack_alarms([999], by="A", text="x")


def test_feed_alarms_are_keyed_by_their_start():
    cat = Catalog("sqlite://")
    a, created = raise_feed_alarm(cat, "STALE", since_ns=1_700_000_000 * 10**9)
    assert created and "no event since 2023-11-14 22:13:20 UTC" in cat.alarms()[0]["text"]
    assert raise_feed_alarm(cat, "STALE", since_ns=1_700_000_000 * 10**9) == (a, False)  # another process
    _, created = raise_feed_alarm(cat, "PRODUCER DOWN", since_ns=1_700_000_100 * 10**9, detail="killed by SIGKILL")
    assert created and cat.alarms()[0]["kind"] == "producer_down" and "SIGKILL" in cat.alarms()[0]["text"]


def test_expert_thresholds_are_checked_logged_and_used_by_the_flags():
    cat = Catalog("sqlite://")
    assert flag_config(cat).n_sigma == FlagConfig().n_sigma
    with pytest.raises(ConfigError, match="unknown setting"):
        cat.set_setting("flag.z", 2, by="E")
    with pytest.raises(ConfigError, match=r"must be in \[0.5, 100\]"):
        cat.set_setting("flag.n_sigma", 0.1, by="E")
    with pytest.raises(ConfigError, match="must be a number"):
        cat.set_setting("stale_s", "soon", by="E")
    cat.set_setting("flag.n_sigma", 2.5, by="expert1")
    cat.set_setting("flag.n_sigma", 4.0, by="expert2")
    cat.set_setting("flag.min_pvalue", 1e-4, by="expert2")
    cfg = flag_config(cat, FlagConfig(cusum_h=7.0))
    assert cfg.n_sigma == 4.0 and cfg.min_pvalue == 1e-4 and cfg.cusum_h == 7.0
    assert cat.settings()["flag.n_sigma"]["by"] == "expert2"
    log = cat.settings_log()
    assert [(x["key"], x["old"], x["value"], x["by"]) for x in log[::-1]] == [
        ("flag.n_sigma", None, 2.5, "expert1"), ("flag.n_sigma", 2.5, 4.0, "expert2"),
        ("flag.min_pvalue", None, 1e-4, "expert2")]
    assert np.all([x["at"] for x in log])
