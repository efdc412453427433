"""Detector geometry: PMT table, hit-map grid, light acceptance, HEALPix display helpers."""

from .grid import HITMAP_BANDWIDTH, SphericalGrid, soft_alpha, soft_beta
from .healpix import hits_to_healpix, mollweide_image, mollweide_outline, mollweide_xy, pmt_pixels
from .optics import acceptance, distances_cm
from .pmt import (
    DEFAULT_PMT_TABLE,
    N_PMTS,
    N_PMTS_17IN,
    N_PMTS_20IN,
    PMT_RADIUS_CM,
    PMTTable,
    default_pmt_table,
    fibonacci_pmt_table,
    load_pmt_table,
)

__all__ = [
    "PMTTable", "load_pmt_table", "default_pmt_table", "fibonacci_pmt_table", "DEFAULT_PMT_TABLE",
    "N_PMTS", "N_PMTS_17IN", "N_PMTS_20IN", "PMT_RADIUS_CM",
    "SphericalGrid", "soft_beta", "soft_alpha", "HITMAP_BANDWIDTH",
    "acceptance", "distances_cm",
    "pmt_pixels", "hits_to_healpix", "mollweide_image", "mollweide_xy", "mollweide_outline",
]

# Detector constants used across stages (DESIGN 2)
