"""Preprocessing: vertex, proper hit times, KamNet hit maps, generator point clouds, Nhit matching."""

from .config import C_LIGHT_CM_PER_NS, HitMapConfig, VertexFitConfig
from .hitmap import SparseHitMaps, hitmaps, nhit, sparse_hitmaps
from .matching import match_nhit, nhit_weights
from .pointcloud import point_clouds
from .timing import event_vertices, proper_times, reconstruct_vertices, time_slice, time_slice_edges, vertex_method, with_vertex
from .vertex import centroid_bias_table, charge_centroid, reconstruct_vertex
from .topology import early_light_dipole
from .vertexfit import VertexFit, fit_vertex, time_pdf_table

__all__ = [
    "HitMapConfig", "VertexFitConfig", "C_LIGHT_CM_PER_NS",
    "VertexFit", "fit_vertex", "time_pdf_table", "early_light_dipole",
    "charge_centroid", "centroid_bias_table", "reconstruct_vertex",
    "event_vertices", "reconstruct_vertices", "vertex_method", "with_vertex", "proper_times", "time_slice", "time_slice_edges",
    "SparseHitMaps", "sparse_hitmaps", "hitmaps", "nhit",
    "point_clouds", "match_nhit", "nhit_weights",
]
