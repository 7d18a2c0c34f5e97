"""dropgan: single-image generative modelling by patch nearest neighbours (GPNN) and friends."""

__version__ = "0.1.0"
