"""The interface every nearest-neighbour backend implements.

A backend answers one question for the PNN step: for every query patch, which key patch
minimises the normalised score

    S[i, j] = D[i, j] / (alpha + min_l D[l, j]),

where D is the mean squared error between patches and the minimum runs over the queries of
the same sample. ``alpha = inf`` means plain MSE. Engines never know how the answer is found.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

__all__ = ["NearestNeighbourSearch", "PatchLayout", "normalised_score"]

#: Time of one exact query-key distance of 7 x 7 x 3 values within a GEMM, on one core.
EXACT_PAIR_MICROSECONDS = 0.007


@dataclass(frozen=True)
class PatchLayout:
    """Where the patches come from, for backends that exploit image structure.

    Attributes
    ----------
    query_shape : (h, w)
        The grid of the query patches of one sample: queries hold ``h * w`` patches, row-major.
    key_shapes : tuple of (h, w)
        The grids whose row-major patches, concatenated in this order, are the keys (one grid
        per source image; several for a collage).
    """

    query_shape: tuple[int, int]
    key_shapes: tuple[tuple[int, int], ...]

    @property
    def query_count(self) -> int:
        """Query patches of one sample."""
        return math.prod(self.query_shape)

    @property
    def key_count(self) -> int:
        """Key patches, over all grids."""
        return sum(math.prod(k) for k in self.key_shapes)


def normalised_score(
    distances: torch.Tensor, key_minima: torch.Tensor | None, alpha: float
) -> torch.Tensor:
    """GPNN's score ``D / (alpha + key_minima)`` (eq. 1 of the paper); ``D`` itself when
    ``alpha`` is infinite.

    Examples
    --------
    >>> d = torch.tensor([[1.0, 4.0], [2.0, 8.0]])
    >>> normalised_score(d, d.min(0).values, 1.0)
    tensor([[0.5000, 0.8000],
            [1.0000, 1.6000]])
    """
    if math.isinf(alpha):
        return distances
    return distances / (alpha + key_minima)


class NearestNeighbourSearch(ABC):
    """A nearest-neighbour backend. One instance serves one synthesis run, so a backend may
    keep state between calls (warm starts, per-level caches).

    A backend whose ``reads_rows`` is true also takes the queries as one
    :class:`~dropgan.patches.PatchTable` per sample, reading the rows it needs from the
    images, so that the ``(n, d)`` query matrix is never made.
    """

    name: ClassVar[str]
    reads_rows: ClassVar[bool] = False

    @abstractmethod
    def search(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        alpha: float,
        layout: PatchLayout,
        valid_keys: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Index of the best key for every query.

        Parameters
        ----------
        queries : Tensor, (B, n, d)
            Query patches of B independent samples.
        keys : Tensor, (m, d)
            Key patches, shared by all samples.
        alpha : float
            Completeness knob of the normalised score; ``math.inf`` for plain MSE.
        layout : PatchLayout
            Grids of the queries and keys.
        valid_keys : Tensor, (m,) bool, optional
            Keys that may be chosen (masked-out keys are never returned).

        Returns
        -------
        Tensor, (B, n) int64
        """

    def cost(self, layout: PatchLayout, batch: int) -> float:
        """Rough time of one :meth:`search` of ``batch`` samples laid out as ``layout``, in
        microseconds on one CPU core for 7 x 7 patches: what a progress bar needs to predict
        the time left (only ratios matter).

        This default is an exhaustive search's: about 7 ns per query-key pair (measured).

        Examples
        --------
        >>> from dropgan.search import ExactSearch
        >>> ExactSearch().cost(PatchLayout((100, 100), ((100, 100),)), 1)
        700000.0
        """
        return EXACT_PAIR_MICROSECONDS * batch * layout.query_count * layout.key_count
