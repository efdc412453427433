"""Preprocessing: vertex, proper hit times, KamNet hit maps, generator point clouds, Nhit matching."""

from .config import C_LIGHT_CM_PER_NS, HitMapConfig
from .hitmap import SparseHitMaps, hitmaps, nhit, sparse_hitmaps
from .matching import match_nhit, nhit_weights
from .pointcloud import point_clouds
from .timing import event_vertices, proper_times, time_slice, time_slice_edges
from .vertex import centroid_bias_table, charge_centroid, reconstruct_vertex

__all__ = [
    "HitMapConfig", "C_LIGHT_CM_PER_NS",
    "charge_centroid", "centroid_bias_table", "reconstruct_vertex",
    "event_vertices", "proper_times", "time_slice", "time_slice_edges",
    "SparseHitMaps", "sparse_hitmaps", "hitmaps", "nhit",
    "point_clouds", "match_nhit", "nhit_weights",
]
