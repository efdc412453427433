"""The Real-vs-generated page draws every distribution kamcore compares, the event's position included."""

from __future__ import annotations

import numpy as np

from dashboard.selection import Selection


def test_six_distributions_with_their_iou_and_the_table(world):
    from dashboard.views import GeneratedView
    from kamcore.metrics import ALL_QUANTITIES

    v = GeneratedView(backend=world, selection=Selection(generator="vae", seed=3))
    assert v.refresh()
    assert set(v._hists) == set(ALL_QUANTITIES)
    s = v._sample
    for k, (fig, src) in v._hists.items():
        mc = np.asarray(src.data["Monte Carlo"])
        assert mc.sum() > 0.99 and f"IoU {s.metrics[k]['iou']:.3f}" in fig.title.text, k
    assert "Charge-centroid radius" in v._table.object and "Charge-centroid z" in v._table.object
