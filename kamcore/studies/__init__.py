"""The KamNet paper's physics studies as reproducible runs (one module per study).

* :mod:`~kamcore.studies.pressure` -- KamNet vs the CNN over QE x photocoverage (sec. IV.C, Fig. 3);
* :mod:`~kamcore.studies.sensitivity` -- sensitivity factor of the cut, eqs. 5-6 (sec. V.C);
* :mod:`~kamcore.studies.fiducial` -- fiducial-volume expansion from film rejection (sec. V.D, Fig. 7);
* :mod:`~kamcore.studies.excited` -- 2vbb to excited states, DES and S/N (sec. VI, Figs. 8-10);
* :mod:`~kamcore.studies.attention` -- attention by source, rejection vs gamma cascade (sec. V.A, Figs. 5-6);
* :mod:`~kamcore.studies.fewshot` -- few-shot generation of a balloon-bottom background (generative paper
  sec. 4.4, Fig. 10);
* :mod:`~kamcore.studies.generators` -- the generative-models paper's Table 1 with its ceiling, and few-shot
  learning (``kamcore gen-results``; one results file, not a directory).

Each ``run_*`` function writes ``<study>.json`` (inputs, models, seeds, numbers, the paper's
numbers beside ours, caveats) and PNG figures into an output directory; ``kamcore study``
is the command line.  Models come from :mod:`kamcore.train`, events from :mod:`kamcore.sim`,
figures of merit from :mod:`kamcore.metrics`.
"""

from ._common import STUDY_PRESETS, build_model, hitmap_config_for, load_checkpoint, study_hitmap_config
from .attention import AttentionStudyConfig, gamma_cascade_intensity, pearson, run_attention
from .excited import ExcitedStatesConfig, des, run_excited_states, signal_to_noise_after
from .generators import GeneratorResultsConfig, run_generator_results
from .fewshot import FewShotConfig, run_few_shot
from .fiducial import FiducialConfig, combined_gain, exposure_gain, run_fiducial, sensitivity_gain
from .pressure import PressureMapConfig, pressure_grid, run_pressure_map
from .sensitivity import SensitivityConfig, counting_sensitivity, run_sensitivity, sensitivity_curve

__all__ = [
    "STUDY_PRESETS", "build_model", "hitmap_config_for", "load_checkpoint", "study_hitmap_config",
    "PressureMapConfig", "pressure_grid", "run_pressure_map",
    "SensitivityConfig", "counting_sensitivity", "sensitivity_curve", "run_sensitivity",
    "FiducialConfig", "exposure_gain", "sensitivity_gain", "combined_gain", "run_fiducial",
    "ExcitedStatesConfig", "des", "signal_to_noise_after", "run_excited_states",
    "AttentionStudyConfig", "gamma_cascade_intensity", "pearson", "run_attention",
    "GeneratorResultsConfig", "run_generator_results",
    "FewShotConfig", "run_few_shot",
]
