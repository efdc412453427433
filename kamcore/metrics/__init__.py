"""Figures of merit: classifier ROC/AUC/rejection/sensitivity, generator IoU/Wasserstein/two-sample test,
and a Monte Carlo against generator comparison on one seed (:func:`compare_generator`)."""

from .classification import (auc, mixed_sensitivity_factor, rejection_at_acceptance, roc_curve, sensitivity_factor,
                             threshold_at_acceptance)
from .generative import (ALL_QUANTITIES, QUANTITIES, VERTEX_QUANTITIES, classifier_two_sample_test, compare_events, event_features, event_observables, histogram_iou,
                         mc_ceiling, normalised_wasserstein)
from .samples import SampleComparison, compare_generator

__all__ = ["roc_curve", "auc", "threshold_at_acceptance", "rejection_at_acceptance", "sensitivity_factor",
           "mixed_sensitivity_factor", "histogram_iou", "normalised_wasserstein", "event_observables",
           "event_features", "classifier_two_sample_test", "compare_events", "mc_ceiling",
           "SampleComparison", "compare_generator", "QUANTITIES", "VERTEX_QUANTITIES", "ALL_QUANTITIES"]
