"""Figures of merit: classifier ROC/AUC/rejection/sensitivity (generator metrics come with the generators)."""

from .classification import (auc, mixed_sensitivity_factor, rejection_at_acceptance, roc_curve, sensitivity_factor,
                             threshold_at_acceptance)

__all__ = ["roc_curve", "auc", "threshold_at_acceptance", "rejection_at_acceptance", "sensitivity_factor",
           "mixed_sensitivity_factor"]
