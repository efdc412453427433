"""The simulated arrays are pinned bit for bit: a change of output must be deliberate.

Trained models and the resumable training campaigns depend on re-simulating exactly
the same files from (source, seed, selection, SimConfig), so a speed-up of the
simulation must not change a single bit.  The digests below were recorded with the
code of commit 2cacb85 (numpy 2.4.6, x86-64, ``OMP_NUM_THREADS=1``).  If this test
fails after a change to kamcore.sim or kamcore.geometry, the change altered the
output: either restore it, or treat it as a new simulation version (re-simulate the
training files and update the digests).  A numpy upgrade can also change the last
bits (SIMD kernels of exp, einsum, ...); that too means re-simulating.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from kamcore.sim import SimConfig, simulate

_COLUMNS = ("offsets", "pmt", "t_ns", "q_pe", "deposit_offsets", "deposit_xyz_cm", "deposit_t_ns", "deposit_e_mev",
            "energy_mev", "true_vertex_cm", "timestamp_ns")

CASES = {
    "Xe136_0vbb": dict(seed=0),
    "Xe136_2vbb": dict(seed=1),
    "Bi214": dict(seed=2),
    "Bi214_film": dict(seed=3),
    "C10": dict(seed=4),
    "Solar_nu": dict(seed=5),
    "Xe136_2vbb_0+1": dict(seed=6),
    "I130": dict(seed=7),
    "Bi214/window": dict(seed=8, energy_window_mev=(2.0, 3.0), max_radius_cm=157.0),
    "C10/centroid": dict(seed=9, config="centroid"),
}

DIGESTS = {
    'Xe136_0vbb': 'a977d1d6abc35d288fa6ca2afe7afb3d454440bbfad54b0d6520eabbbf9156e0',
    'Xe136_2vbb': 'cf492fd8f94194cbed11ce8e6e6ef29d0ce0780f6be36347e11cc1cc26419274',
    'Bi214': '91269bb23d297a3f64719774f1068a9bb8afc43fa31834ff5858a363a3f3b16c',
    'Bi214_film': '10185c71599c934f3bec4219d3b424383140e861c8176ddf4baaa4335cc39b94',
    'C10': '6da9ecbaed3bc5c492677c78df6d449dc9044c251f15789e986185a0cb3cf346',
    'Solar_nu': '6151e805722fe2dbd876d49ac7f956f7c6762189cd62dff38dbd2c7db9171c77',
    'Xe136_2vbb_0+1': '2ec3a0949d0ac258666678b15abffb6588e8fc19cbfc87f9b3c0b1b74bf1819e',
    'I130': '574ce277c9d3dce7cd2dfcfb6da1edcab7f36a4c0b9e8090f163c672d6b67ee7',
    'Bi214/window': '0809426908fddcc30855e7df95429fe4673b0c288fe7a770c1328410440a48db',
    'C10/centroid': '5323ec2ff33423e859c7be9d3675fed094586260d458f08da74bda267266e6f1',
}


def events_digest(ev) -> str:
    """SHA-256 over dtype, shape and bytes of every simulated column."""
    h = hashlib.sha256()
    for name in _COLUMNS:
        a = np.ascontiguousarray(getattr(ev, name))
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _simulate(case: str):
    kw = dict(CASES[case])
    if kw.get("config") == "centroid":
        kw["config"] = SimConfig(light_model="centroid")
    return simulate(case.split("/")[0], 192, batch_size=128, **kw)  # two batches, the second one partial


@pytest.mark.parametrize("case", list(CASES))
def test_simulated_arrays_are_unchanged(case):
    assert events_digest(_simulate(case)) == DIGESTS[case]


if __name__ == "__main__":  # print the digests of the code that is imported
    for case in CASES:
        print(f"    {case!r}: {events_digest(_simulate(case))!r},")
