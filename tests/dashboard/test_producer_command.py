"""The embedded producer's command line is one ``kamcore monitor`` understands, settings included."""

from __future__ import annotations

from dashboard.backend import producer_command
from dashboard.config import DashboardConfig


def _parse(argv):
    from kamcore.cli.main import build_parser
    from kamcore.cli.params import config_from_args
    from kamcore.monitor import MonitorConfig

    args = build_parser().parse_args(argv)
    return args, config_from_args(MonitorConfig, args).validate()


def test_the_embedded_producer_gets_the_servers_feed_and_its_faulty_pmts(tmp_path):
    cfg = DashboardConfig.from_env({"KAMDASH_STORE": str(tmp_path / "live"), "KAMDASH_RATE_HZ": "7.5",
                                    "KAMDASH_DEAD_PMTS": "17,402", "KAMDASH_HOT_PMTS": "5"})
    args, mon = _parse(producer_command(cfg, parent_pid=4242))
    assert (mon.rate_hz, mon.run_length) == (7.5, cfg.run_length)
    assert mon.faulty_pmts() == ([17, 402], [5])
    assert args.parent_pid == 4242 and args.store == str(tmp_path / "live")
    _, clean = _parse(producer_command(DashboardConfig(store=str(tmp_path / "live"))))
    assert not clean.dead_pmts and not clean.hot_pmts


def test_companion_models_reach_the_embedded_producer(tmp_path):
    cfg = DashboardConfig.from_env({"KAMDASH_STORE": str(tmp_path / "live"),
                                    "KAMDASH_COMPANIONS": "kamnet_cpu, cnn_bi214"})
    args, _ = _parse(producer_command(cfg))
    assert [p.rsplit("/", 1)[-1] for p in args.companions] == ["kamnet_cpu", "cnn_bi214"]
    args, _ = _parse(producer_command(DashboardConfig(store=str(tmp_path / "live"))))
    assert args.companions == []
