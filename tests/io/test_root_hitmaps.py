"""The same simulated events through ROOT and through Parquet give the same hit maps."""

import numpy as np

from kamcore.io import read_events, read_root, write_events, write_root
from kamcore.preprocess import hitmaps
from kamcore.sim import simulate


def test_root_and_parquet_give_identical_hitmaps(tmp_path, pmts):
    ev = simulate("C10", 60, seed=9, run=3, pmts=pmts)
    write_events(ev, tmp_path / "run.parquet")
    write_root(ev, tmp_path / "run.root")
    from_parquet = read_events(tmp_path / "run.parquet")
    from_root = read_root(tmp_path / "run.root")
    assert from_parquet.equals(ev)
    for name in ("offsets", "pmt", "t_ns", "q_pe", "run", "event_id"):
        np.testing.assert_array_equal(getattr(from_root, name), getattr(ev, name), err_msg=name)
    np.testing.assert_array_equal(hitmaps(from_root, pmts), hitmaps(from_parquet, pmts))
