"""Configuration of the fast Monte Carlo (shared by the library, the CLI and the dashboard).

Every physics and detector number the simulation uses lives in one
:class:`SimConfig`; it is stored with each simulated run as JSON
(``Events.attrs["sim_config"]``), so a run can always be regenerated.

Constants and why (DESIGN 2 unless noted)
-----------------------------------------
* ``qe = 0.23``, ``coverage_17in = 0.22``, ``coverage_20in = 0.12``: the two
  "pressure" parameters of the KamNet paper (QE, photocoverage) and the 20-inch
  share of the sphere.
* ``light_yield_per_mev = 4325`` (tuned, choice): photons per MeV of visible
  energy before QE and geometry.  Tuned so that a 2.458 MeV ``Xe136_0vbb`` event
  at the detector centre gives on average ~350 non-zero cells in the
  28 x 38 x 38 hit map (KamNet paper, Sec. "Data cleaning": "about 2.5 MeV
  produce roughly 350 Nhits").  Measured with the defaults (10,000 events at the
  centre, seed 0, proper times from the true vertex): expected light
  ``Y * qe * 0.34 * exp(-900/1200) = 159.8`` p.e./MeV at the centre, i.e. 393 p.e.
  at 2.458 MeV (393.6 measured), 352.0 hit PMTs (1.4 of them dark hits), mean
  Nhit 349.7 +- 0.2 (rms 16.7).  Nhit is nearly the number of hit PMTs because
  a cell rarely holds two hits of one event.  ``tests/sim/test_physics.py``
  keeps it within 5%.
* ``attenuation_cm = 1200``: single effective attenuation length for the 900 cm
  path (LS + buffer oil); the same value the preprocessing's centroid bias
  correction assumes (``HitMapConfig.attenuation_cm``).
* Scintillation profile ``rise_ns = 1``, ``decay_fast_ns = 5``,
  ``decay_slow_ns = 20``, ``fast_fraction = 0.75`` (choice within DESIGN 2).
  Emission time ``t = Exp(rise) + Exp(decay_k)`` has exactly the density
  ``(exp(-t/decay) - exp(-t/rise)) / (decay - rise)`` of each component.
* TTS sigma 1.3 ns (17") and 2.3 ns (20"); single-p.e. charge resolution 0.30;
  threshold 0.3 p.e.; dark rate 3 kHz per PMT.
* ``gamma_cutoff_mev = 0.03``: below this a gamma is photo-absorbed at its next
  interaction point (photo-absorption overtakes Compton scattering in carbon
  near 20-30 keV).
* ``ops_fraction = 0.45``, ``ops_lifetime_ns = 3.0``: ortho-positronium
  formation fraction and lifetime in LS (KamNet paper ref. [22]; DESIGN 3).
* Radii: XeLS balloon 190 cm, LS balloon 650 cm (DESIGN 2).

The readout: raw hit times are ``t_raw = t_phys + trigger_offset_ns`` where
``t_phys`` is the time after the decay; only photo-electrons with
``0 <= t_raw < readout_window_ns`` are recorded and dark hits are uniform in
that window.

>>> c = SimConfig(qe=0.3)
>>> SimConfig.from_json(c.to_json()).qe
0.3
"""

from __future__ import annotations


import param

from ..config import JsonConfig

__all__ = ["SimConfig"]


class SimConfig(JsonConfig):
    """Detector and physics parameters of the fast Monte Carlo (units in the names)."""

    # ---------------------------------------------------------------- optics
    qe = param.Number(default=0.23, bounds=(0.0, 1.0), doc="PMT quantum efficiency (uniform), fraction.")
    coverage_17in = param.Number(default=0.22, bounds=(0.0, 1.0),
                                 doc="Photocoverage of the 17-inch PMTs, fraction of the PMT sphere.")
    coverage_20in = param.Number(default=0.12, bounds=(0.0, 1.0),
                                 doc="Photocoverage of the 20-inch PMTs, fraction of the PMT sphere.")
    light_yield_per_mev = param.Number(default=4325.0, bounds=(0.0, 1e6), doc=(
        "Scintillation photons per MeV of visible energy (tuned: 2.5 MeV at the centre gives ~350 Nhit)."))
    light_model = param.Selector(default="deposits", objects=["deposits", "centroid"], doc=(
        "Where the light is emitted: 'deposits' (every deposit at its own position, exact), 'centroid' "
        "(all light from the energy-weighted centroid; the point-source approximation, for comparisons)."))
    attenuation_cm = param.Number(default=1200.0, bounds=(1.0, None),
                                  doc="Effective light attenuation length from deposit to PMT, cm.")
    # ------------------------------------------------------- scintillation
    rise_ns = param.Number(default=1.0, bounds=(0.0, 100.0), doc="Scintillation rise time, ns.")
    decay_fast_ns = param.Number(default=5.0, bounds=(0.01, 1000.0), doc="Fast scintillation decay time, ns.")
    decay_slow_ns = param.Number(default=20.0, bounds=(0.01, 1000.0), doc="Slow scintillation decay time, ns.")
    fast_fraction = param.Number(default=0.75, bounds=(0.0, 1.0),
                                 doc="Fraction of the light in the fast decay component.")
    # ---------------------------------------------------------- electronics
    tts_17in_ns = param.Number(default=1.3, bounds=(0.0, 50.0), doc="Transit-time spread sigma, 17-inch PMTs, ns.")
    tts_20in_ns = param.Number(default=2.3, bounds=(0.0, 50.0), doc="Transit-time spread sigma, 20-inch PMTs, ns.")
    spe_sigma = param.Number(default=0.30, bounds=(0.0, 2.0),
                             doc="Single-p.e. charge resolution (Gaussian sigma, truncated at 0), p.e.")
    threshold_pe = param.Number(default=0.3, bounds=(0.0, None), doc="Hits below this charge are dropped, p.e.")
    dark_rate_hz = param.Number(default=3000.0, bounds=(0.0, 1e7), doc="Dark-noise rate per PMT, Hz.")
    readout_window_ns = param.Number(default=250.0, bounds=(1.0, 1e5),
                                     doc="Readout window; raw hit times lie in [0, window), ns.")
    trigger_offset_ns = param.Number(default=30.0, bounds=(-1e4, 1e4),
                                     doc="Raw time of the decay inside the readout window, ns.")
    # ------------------------------------------------------------ particles
    gamma_cutoff_mev = param.Number(default=0.03, bounds=(0.001, 10.0), doc=(
        "Gammas below this energy are photo-absorbed at their next interaction, MeV."))
    ops_fraction = param.Number(default=0.45, bounds=(0.0, 1.0),
                                doc="Fraction of positrons forming ortho-positronium.")
    ops_lifetime_ns = param.Number(default=3.0, bounds=(0.0, 1000.0), doc="Ortho-positronium lifetime in LS, ns.")
    # ------------------------------------------------------------- geometry
    xels_radius_cm = param.Number(default=190.0, bounds=(1.0, 650.0), doc="Radius of the XeLS balloon, cm.")
    ls_radius_cm = param.Number(default=650.0, bounds=(1.0, 900.0), doc=(
        "Radius of the LS balloon; gammas leaving it are lost, cm."))
    event_rate_hz = param.Number(default=1.0, bounds=(1e-9, 1e9),
                                 doc="Rate of the simulated events (Poisson timestamps), Hz.")
