"""Evaluation measures for single-image generation."""

from .patch_stats import coherence, completeness, nn_distances

__all__ = ["coherence", "completeness", "nn_distances"]
