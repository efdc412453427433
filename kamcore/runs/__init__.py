"""Run sequences: simulation with convection periods, run directories (DESIGN 7).

* :mod:`~kamcore.runs.config` -- :class:`RunSimConfig`, :class:`ConvectionPeriod`;
* :mod:`~kamcore.runs.simulate` -- :func:`simulate_runs` (one Parquet file per
  run + ``truth.json``), :func:`simulate_run`;
* :mod:`~kamcore.runs.files` -- run files, score-file paths, run digests, run numbers and times;
* :mod:`~kamcore.runs.scoring` -- :func:`score_run_file`: one score file next to a run;
* :mod:`~kamcore.runs.batch` -- :func:`score_runs`: every run of a directory, serially or on Dask.
"""

from .batch import BatchScore, RunScore, score_runs
from .config import ConvectionPeriod, RunSimConfig, parse_convection
from .files import SCORE_SUFFIX, find_run_files, run_file_digest, run_info, score_path
from .scoring import load_run_scores, score_run_file, write_run_scores
from .simulate import (TRUTH_FILE, run_file_name, simulate_run, simulate_runs, simulate_selected,
                       truth_background_fraction)

__all__ = [
    "RunSimConfig", "ConvectionPeriod", "parse_convection",
    "simulate_run", "simulate_runs", "run_file_name", "TRUTH_FILE", "truth_background_fraction",
    "find_run_files", "score_path", "run_info", "run_file_digest", "SCORE_SUFFIX",
    "score_run_file", "load_run_scores", "write_run_scores", "simulate_selected",
    "score_runs", "RunScore", "BatchScore",
]
