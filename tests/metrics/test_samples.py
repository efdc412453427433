"""kamcore.metrics.compare_generator: a generator that reproduces the Monte Carlo scores IoU 1 and WD 0."""

import numpy as np
import pytest

from kamcore.errors import ModelFileError
from kamcore.metrics import compare_generator
from kamcore.models import load_generator
from kamcore.sim import simulate


class _MonteCarloGenerator:
    """A 'generator' that returns the Monte Carlo sample of the comparison itself."""

    meta = {"model": "mc", "preset": "identity"}

    def generate(self, n, seed=0, pmts=None):
        return simulate("Xe136_0vbb", n, seed=seed, energy_window_mev=(2.0, 3.0), max_radius_cm=157.0, pmts=pmts)


def test_the_same_sample_compares_identical():
    s = compare_generator(_MonteCarloGenerator(), 12, seed=4)
    assert len(s.mc) == len(s.generated) == 12 and s.seed == 4 and s.generator["preset"] == "identity"
    assert set(s.metrics) == {"time", "charge", "nhit", "total_charge", "centroid_r", "centroid_z"}
    for m in s.metrics.values():
        assert m["iou"] == pytest.approx(1.0) and m["wd"] == pytest.approx(0.0, abs=1e-12)
    assert set(s.histograms(20)) == set(s.metrics)  # the four of the paper and the centroid R, z
    for edges, a, b in s.histograms(20).values():
        assert edges.shape == (21,) and np.allclose(a, b) and a.sum() == pytest.approx(1.0)


def test_a_shipped_generator_and_a_missing_one(tmp_path):
    s = compare_generator(load_generator("vae_xe136", kinds=("vae",)), 10, seed=1)
    assert s.generated.attrs["time_reference"] == "proper" and s.generator["model"] == "vae"
    assert all(0.0 <= m["iou"] <= 1.0 and m["wd"] >= 0.0 for m in s.metrics.values())
    with pytest.raises(ModelFileError, match=r"nope\.json: GAN checkpoint not found"):
        load_generator(tmp_path / "nope", kinds=("gan",))
