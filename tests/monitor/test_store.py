"""LiveStore: bounded on disk, sequence numbers increase, readable while a writer appends."""

import threading

import numpy as np
import pytest

from kamcore.errors import ConfigError
from kamcore.events import Events
from kamcore.monitor import LiveStore


def _batch(n, run=1, start=0):
    rng = np.random.default_rng(start)
    hits = rng.integers(1, 5, n)
    off = np.concatenate([[0], np.cumsum(hits)])
    h = int(off[-1])
    return Events.from_columns(offsets=off, pmt=rng.integers(0, 1800, h).astype(np.int16),
                               t_ns=rng.normal(0, 5, h).astype(np.float32), q_pe=np.ones(h, np.float32),
                               run=np.full(n, run, np.int32), event_id=np.arange(start, start + n))


def test_bounded_and_ordered(tmp_path):
    with LiveStore(tmp_path / "s", max_events=10, writable=True) as w:
        for k in range(12):
            ev = _batch(4, start=4 * k)
            w.append(ev, score=np.full(4, k / 12, np.float32), attention=np.ones((4, 3), np.float32),
                     tau_ns=ev.t_ns)
        assert w.seq == 48
    r = LiveStore(tmp_path / "s")
    files = list((tmp_path / "s").glob("chunk_*.npz"))
    assert len(files) <= 4  # 3 chunks hold >= 10 events, plus at most one retired file
    last = r.latest(10)
    assert len(last) == 10 and last.seq.tolist() == list(range(39, 49))
    assert last.events.event_id.tolist() == list(range(38, 48))  # event ids follow the seq
    assert last.attention.shape == (10, 3) and len(last.tau_ns) == last.events.n_hits
    np.testing.assert_array_equal(last.tau_ns, last.events.t_ns)
    assert r.since(46).seq.tolist() == [47, 48] and len(r.since(48)) == 0
    assert len(r.latest(1000)) == sum(c["n"] for c in r.index()["chunks"]) <= 10 + 4


def test_restart_continues_seq_and_one_writer(tmp_path):
    with LiveStore(tmp_path, max_events=5, writable=True) as w:
        w.append(_batch(3), score=np.zeros(3))
        with pytest.raises(ConfigError, match="another producer"):
            LiveStore(tmp_path, writable=True)
    with LiveStore(tmp_path, writable=True) as w:
        assert w.append(_batch(2), score=np.zeros(2)) == 5
    with pytest.raises(ConfigError, match="read-only"):
        LiveStore(tmp_path).append(_batch(1), score=[0.0])
    with pytest.raises(ConfigError, match=r"score must have shape \(2,\)"):
        with LiveStore(tmp_path, writable=True) as w:
            w.append(_batch(2), score=[0.0])


def test_readers_while_written(tmp_path):
    w = LiveStore(tmp_path, max_events=8, writable=True)
    done, errors, seen = threading.Event(), [], []

    def reader():
        r, last = LiveStore(tmp_path), 0
        while not done.is_set():
            try:
                got = r.since(last)
                if len(got):
                    assert np.all(np.diff(got.seq) == 1) and got.seq[0] > last
                    last = int(got.seq[-1])
                    seen.append(last)
                assert len(r.latest(8)) <= 8
            except Exception as exc:  # noqa: BLE001 - collected for the assertion below
                errors.append(exc)
                return

    t = threading.Thread(target=reader)
    t.start()
    for k in range(60):
        w.append(_batch(3, start=k), score=np.zeros(3))
    done.set()
    t.join()
    w.close()
    assert not errors, errors
    assert seen and seen == sorted(seen) and seen[-1] <= 180


def test_live_events_take_find_and_concat_keep_hits_aligned(tmp_path):
    from kamcore.monitor import LiveEvents

    ev = Events.from_columns(offsets=[0, 2, 3, 6], pmt=[1, 2, 3, 4, 5, 6], t_ns=[1.0, 2, 3, 4, 5, 6],
                             q_pe=[1.0, 1, 1, 1, 1, 1])
    with LiveStore(tmp_path, writable=True) as w:
        w.append(ev, score=[0.1, 0.2, 0.3], attention=np.eye(3, 4), tau_ns=np.arange(6, dtype=np.float32))
        w.append(ev.take([0]), score=[0.9], attention=np.ones((1, 4)), tau_ns=np.array([7.0, 8.0], np.float32))
    r = LiveStore(tmp_path)
    a, b = r.latest(4), r.since(3)
    one = a.take(2)
    assert one.seq.tolist() == [3] and one.events.pmt.tolist() == [4, 5, 6] and one.tau_ns.tolist() == [3, 4, 5]
    assert a.find(3) == 2 and a.find(99) is None
    both = LiveEvents.concat([a.take(slice(0, 3)), b])
    assert both.seq.tolist() == [1, 2, 3, 4] and both.tau_ns.tolist() == [0, 1, 2, 3, 4, 5, 7, 8]
    assert both.attention.shape == (4, 4) and both.score.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.9])


def test_a_run_stored_again_replaces_its_held_events(tmp_path):
    with LiveStore(tmp_path, max_events=100, writable=True) as w:
        w.append(_batch(3, run=1), score=np.zeros(3))
        mixed = Events.concat([_batch(2, run=1, start=3), _batch(2, run=2)])
        w.append(mixed, score=np.zeros(4))  # one chunk with runs 1 and 2
        w.append(_batch(5, run=1), score=np.ones(5), replace_runs=True)  # run 1 closed again
        assert w.append(_batch(2, run=3), score=np.zeros(2), replace_runs=True) == 14  # no run 3 held: no-op
    got = LiveStore(tmp_path).latest(100)
    keys = list(zip(got.events.run.tolist(), got.events.event_id.tolist()))
    assert keys == [(2, 0), (2, 1), *((1, i) for i in range(5)), (3, 0), (3, 1)]
    assert got.seq.tolist() == [6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert got.events.n_hits == len(got.tau_ns)
    np.testing.assert_array_equal(got.take(0).events.pmt, mixed.take([2]).pmt)  # hits follow their event
    assert got.score[got.events.run == 1].tolist() == [1.0] * 5
    listed = {c["file"] for c in LiveStore(tmp_path).index()["chunks"]}
    assert listed == {"chunk_000000000006_000000000012.npz", "chunk_000000000008.npz", "chunk_000000000013.npz"}
    # the replaced files go one append later, as dropped ones do; a restarted writer sweeps leftovers
    with LiveStore(tmp_path, writable=True):
        pass
    assert {p.name for p in tmp_path.glob("chunk_*.npz")} == listed


def test_companion_scores_and_attention_round_trip_and_bad_ones_are_refused(tmp_path):
    from kamcore.errors import ConfigError

    ev = Events.from_columns(offsets=[0, 1, 3], pmt=[3, 4, 5], t_ns=[1.0, 2.0, 3.0], q_pe=[1.0, 1.0, 2.0])
    att = np.array([[0.5, 0.5], [0.9, 0.1]], np.float32)
    with LiveStore(tmp_path, writable=True) as w:
        w.append(ev, score=[0.1, 0.2], companions={"kamnet_c10": ([0.7, 0.8], att), "cnn_c10": ([0.3, 0.4], None)})
        w.append(ev, score=[0.1, 0.2], companions={"kamnet_c10": ([0.5, 0.6], att)})  # cnn_c10 not run here
        with pytest.raises(ConfigError, match="companion kamnet_c10 score must have shape"):
            w.append(ev, score=[0.1, 0.2], companions={"kamnet_c10": ([0.5], att)})
        with pytest.raises(ConfigError, match="not a plain name"):
            w.append(ev, score=[0.1, 0.2], companions={"../x": ([0.5, 0.6], None)})
    r = LiveStore(tmp_path)
    first = r.since(0).take(np.array([0, 1]))
    assert set(first.companions) == {"kamnet_c10"}  # only what every event read has
    both = r.latest(4)
    assert set(both.companions) == {"kamnet_c10"}
    np.testing.assert_allclose(both.companions["kamnet_c10"][0], [0.7, 0.8, 0.5, 0.6])
    np.testing.assert_allclose(both.companions["kamnet_c10"][1], np.concatenate([att, att]))
    one = r.since(0).take(np.array([0, 1]))
    assert one.companions["kamnet_c10"][0].tolist() == pytest.approx([0.7, 0.8])
    old = r.latest(2)  # the last append alone
    assert set(old.companions) == {"kamnet_c10"}
    from kamcore.monitor import LiveEvents

    joined = LiveEvents.concat([r.latest(2), r.latest(2)])
    assert joined.companions["kamnet_c10"][0].tolist() == pytest.approx([0.5, 0.6, 0.5, 0.6])
