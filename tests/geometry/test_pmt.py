import numpy as np
import pytest

from kamcore.errors import GeometryError
from kamcore.geometry import (N_PMTS, N_PMTS_17IN, N_PMTS_20IN, PMT_RADIUS_CM, default_pmt_table,
                              fibonacci_pmt_table, load_pmt_table)


def test_shipped_table_is_the_documented_layout(pmts):
    assert len(pmts) == N_PMTS and pmts.n_17in == N_PMTS_17IN and pmts.n_20in == N_PMTS_20IN
    np.testing.assert_allclose(pmts.r_cm, PMT_RADIUS_CM, atol=1e-3)
    ref = fibonacci_pmt_table()
    np.testing.assert_allclose(pmts.xyz_cm, ref.xyz_cm, atol=1e-3)
    np.testing.assert_array_equal(pmts.is_20in, ref.is_20in)


def test_layout_is_near_uniform(pmts):
    # every octant holds 1/8 of the PMTs, and 20-inch ones are spread the same way
    octant = (pmts.xyz_cm > 0) @ np.array([1, 2, 4])
    counts = np.bincount(octant, minlength=8)
    assert np.all(np.abs(counts - N_PMTS / 8) < 0.05 * N_PMTS / 8)
    big = np.bincount(octant[pmts.is_20in], minlength=8)
    assert np.all(np.abs(big - N_PMTS_20IN / 8) < 0.15 * N_PMTS_20IN / 8)
    # nearest-neighbour distances are tight (no clumps or holes)
    d = np.linalg.norm(pmts.xyz_cm[:, None] - pmts.xyz_cm[None], axis=2)
    np.fill_diagonal(d, np.inf)
    nn = d.min(1)
    assert nn.std() / nn.mean() < 0.1


def test_photocoverage_adds_up(pmts):
    area = pmts.photocathode_area_cm2(0.22, 0.12)
    sphere = 4 * np.pi * PMT_RADIUS_CM**2
    assert area[~pmts.is_20in].sum() / sphere == pytest.approx(0.22)
    assert area[pmts.is_20in].sum() / sphere == pytest.approx(0.12)


def test_user_table_round_trip_any_row_order(tmp_path, pmts):
    small = fibonacci_pmt_table(100, 30, 800.0)
    path = small.to_csv(tmp_path / "mine.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    loaded = load_pmt_table(path)
    np.testing.assert_allclose(loaded.xyz_cm, small.xyz_cm, atol=1e-3)
    assert loaded.n_20in == 30 and str(path) in loaded.source
    assert default_pmt_table(path).digest == loaded.digest


@pytest.mark.parametrize("text, message", [
    ("pmt_id,x_cm,y_cm\n0,1,2\n", "lacks columns \\['z_cm', 'type'\\]"),
    ("pmt_id,x_cm,y_cm,z_cm,type\n0,1,2,3,17in\n0,1,2,4,17in\n", "pmt_id must be 0..1 each exactly once"),
    ("pmt_id,x_cm,y_cm,z_cm,type\n0,1,2,x,17in\n", "line 2: cannot parse"),
    ("pmt_id,x_cm,y_cm,z_cm,type\n0,1,2,3,10in\n", "PMT type '10in'"),
    ("", "empty"),
])
def test_bad_tables(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(GeometryError, match=message) as info:
        load_pmt_table(path)
    assert "bad.csv" in str(info.value) and "\n" not in str(info.value)


def test_missing_table(tmp_path):
    with pytest.raises(GeometryError, match="nope.csv: cannot read PMT table"):
        load_pmt_table(tmp_path / "nope.csv")


def test_cached_table_arrays_are_read_only():
    """default_pmt_table() is shared by every caller: one of them must not corrupt the others."""
    import numpy as np
    import pytest

    from kamcore.geometry import default_pmt_table

    pmts = default_pmt_table()
    for name in ("xyz_cm", "is_20in", "r_cm", "unit", "theta", "phi"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(pmts, name)[0] = 0
    mine = np.zeros((3, 3)) + np.eye(3) * 900.0
    from kamcore.geometry import PMTTable
    PMTTable(mine, np.zeros(3, bool))
    mine[0, 0] = 1.0  # the caller's own array stays writeable (the table took a copy)
