"""Evaluation measures for single-image generation.

Coherence, completeness and pixel diversity need nothing else; SIFID, NIQE and LPIPS read
weights that :func:`setup_metrics` fetches once (``dropgan setup-metrics``).
"""

from .assets import setup_metrics
from .diversity import mean_pairwise_lpips, pixel_diversity
from .lpips import lpips, pairwise_lpips
from .niqe import niqe
from .patch_stats import coherence, completeness, nn_distances
from .report import evaluate_folders, histogram_plot, markdown_table, pair_samples
from .sifid import frechet_distance, sifid

__all__ = [
    "coherence",
    "completeness",
    "evaluate_folders",
    "frechet_distance",
    "histogram_plot",
    "lpips",
    "markdown_table",
    "mean_pairwise_lpips",
    "niqe",
    "nn_distances",
    "pair_samples",
    "pairwise_lpips",
    "pixel_diversity",
    "setup_metrics",
    "sifid",
]
