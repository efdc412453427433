"""Multi-site topology reaches the PMTs: the early-light dipole at equal Nhit (seeded samples)."""

import numpy as np
import pytest

from kamcore.metrics import auc
from kamcore.preprocess import HitMapConfig, early_light_dipole, match_nhit, sparse_hitmaps
from kamcore.sim import SimConfig, simulate

SEL = dict(energy_window_mev=(2.0, 3.0), max_radius_cm=157.0)


def _dipole_auc(light_model, pmts, n=1500):
    cfg = SimConfig(light_model=light_model)
    s = simulate("Xe136_0vbb", n, seed=5501, pmts=pmts, config=cfg, **SEL)
    b = simulate("Bi214", n, seed=5502, pmts=pmts, config=cfg, **SEL)
    i_s, i_b = match_nhit(sparse_hitmaps(s, pmts).nhit, sparse_hitmaps(b, pmts).nhit, np.random.default_rng(0))
    return auc(early_light_dipole(b, pmts)[i_b], early_light_dipole(s, pmts)[i_s]), len(i_s)


@pytest.mark.slow
def test_bi214_early_light_leans_towards_its_deposits_only_with_light_from_every_deposit(pmts):
    a_dep, n = _dipole_auc("deposits", pmts)
    a_cen, _ = _dipole_auc("centroid", pmts)
    err = 0.5 / np.sqrt(3 * n)  # the AUC's standard error for two samples of n, no separation
    assert a_dep > 0.5 + 3 * err, (a_dep, err)
    assert abs(a_cen - 0.5) < 3 * err, (a_cen, err)


def test_dipole_of_a_point_source_is_small(pmts):
    ev = simulate("Xe136_0vbb", 50, seed=3, pmts=pmts, **SEL)
    d = early_light_dipole(ev, pmts, HitMapConfig(vertex="truth"))
    assert d.shape == (50,) and np.isfinite(d).all() and (d >= 0).all() and np.median(d) < 0.3
