"""Patch extraction (unfold) and weighted recombination of overlapping patches (fold).

A patch is flattened channel-major, as :func:`torch.nn.functional.unfold` does, to a vector
of ``C * p * p`` values; the patches of an ``H x W`` image form a grid of
``(H - p + 1) x (W - p + 1)`` patches in row-major order (stride 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "PatchTable",
    "extract_patches",
    "fold_indexed",
    "fold_patches",
    "fold_weights",
    "gaussian_window",
    "grid_shape",
    "valid_patches",
    "weight_patches",
]


def grid_shape(size: tuple[int, int], patch_size: int) -> tuple[int, int]:
    """Shape of the grid of stride-1 patches of an image of ``size``.

    Examples
    --------
    >>> grid_shape((10, 12), 7)
    (4, 6)
    """
    return size[0] - patch_size + 1, size[1] - patch_size + 1


def extract_patches(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """All stride-1 ``p x p`` patches of ``(B, C, H, W)`` images as ``(B, n, C*p*p)``.

    Examples
    --------
    >>> extract_patches(torch.rand(2, 3, 10, 12), 7).shape
    torch.Size([2, 24, 147])
    """
    return F.unfold(images, patch_size).transpose(1, 2)


def gaussian_window(patch_size: int, sigma: float | None) -> torch.Tensor:
    """Weights of the pixels of a patch when overlapping patches are averaged.

    A Gaussian centred on the patch with standard deviation ``sigma`` pixels, normalised to
    a maximum of 1; ``None`` (or infinity) gives uniform weights.

    Examples
    --------
    >>> w = gaussian_window(7, 7.0)
    >>> float(w[3, 3]), round(float(w[0, 0]), 3)
    (1.0, 0.832)
    """
    if sigma is None or math.isinf(sigma):
        return torch.ones(patch_size, patch_size)
    r = torch.arange(patch_size, dtype=torch.float32) - (patch_size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g[:, None] * g[None, :]


def weight_patches(patches: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Multiply ``(..., C*p*p)`` patches by the window (the same for every channel).

    Examples
    --------
    >>> weight_patches(torch.ones(1, 2 * 3 * 3), gaussian_window(3, None)).sum().item()
    18.0
    """
    c = patches.shape[-1] // window.numel()
    return patches * window.to(patches).reshape(1, -1).repeat(c, 1).reshape(-1)


def fold_weights(size: tuple[int, int], patch_size: int, window: torch.Tensor) -> torch.Tensor:
    """The ``(1, 1, H, W)`` sum of the window weights each pixel receives from the patches
    that cover it: the denominator of :func:`fold_patches`.

    Examples
    --------
    >>> fold_weights((3, 4), 3, gaussian_window(3, None))[0, 0].tolist()
    [[1.0, 2.0, 2.0, 1.0], [1.0, 2.0, 2.0, 1.0], [1.0, 2.0, 2.0, 1.0]]
    """
    n = math.prod(grid_shape(size, patch_size))
    ones = window.reshape(1, -1, 1).expand(1, -1, n)
    return F.fold(ones, size, patch_size)


def fold_patches(
    patches: torch.Tensor, size: tuple[int, int], patch_size: int, window: torch.Tensor
) -> torch.Tensor:
    """Combine ``(B, n, C*p*p)`` overlapping patches into ``(B, C, H, W)`` images by a
    ``window``-weighted mean of the values each pixel receives.

    Folding the patches of an image returns that image, whatever the window.

    Examples
    --------
    >>> x = torch.rand(1, 3, 9, 11)
    >>> y = fold_patches(extract_patches(x, 5), (9, 11), 5, gaussian_window(5, 2.0))
    >>> torch.allclose(x, y, atol=1e-6)
    True
    """
    window = window.to(patches)
    folded = F.fold(weight_patches(patches, window).transpose(1, 2), size, patch_size)
    return folded / fold_weights(size, patch_size, window)


@dataclass(frozen=True)
class PatchTable:
    """The patches of several images, addressed in place rather than unfolded: patch ``j``
    of their concatenated patch lists (the order of :func:`extract_patches` per image) has
    its top-left pixel at ``pixels[:, origin[j]]`` and its rows ``row[j]`` pixels apart.

    Unfolded, the patches would take ``p * p`` times the images' memory. A table also reads
    as the ``(n, C*p*p)`` patch matrix, a few rows at a time (``table[a:b]``,
    :meth:`index_select`) or whole (:meth:`matrix`), with the values of
    :func:`extract_patches`.

    Examples
    --------
    >>> t = PatchTable.of([torch.rand(3, 8, 9), torch.rand(3, 7, 7)], 7)
    >>> t.origin.tolist(), t.row.tolist()
    ([0, 1, 2, 9, 10, 11, 72], [9, 9, 9, 9, 9, 9, 7])
    >>> x = torch.rand(3, 10, 12)
    >>> torch.equal(PatchTable.of([x], 5)[3:8], extract_patches(x[None], 5)[0, 3:8])
    True
    """

    pixels: torch.Tensor
    origin: torch.Tensor
    row: torch.Tensor
    patch_size: int

    @classmethod
    def of(cls, images: Sequence[torch.Tensor], patch_size: int) -> PatchTable:
        """The table of the stride-1 ``p x p`` patches of ``(C, H, W)`` images."""
        origins, rows, start = [], [], 0
        device = images[0].device
        for img in images:
            h, w = img.shape[-2:]
            gh, gw = grid_shape((h, w), patch_size)
            grid = torch.arange(gh, device=device)[:, None] * w + torch.arange(gw, device=device)
            origins.append(start + grid.flatten())
            rows.append(torch.full((gh * gw,), w, device=device))
            start += h * w
        pixels = torch.cat([img.flatten(1) for img in images], 1)
        return cls(pixels, torch.cat(origins), torch.cat(rows), patch_size)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, C*p*p)``: the shape of the patch matrix."""
        return self.origin.numel(), self.pixels.shape[0] * self.patch_size**2

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` of the patch matrix, as :meth:`torch.Tensor.index_select` on it
        (``dim`` must be 0): one gather of ``p * p`` pixels per patch and channel."""
        if dim != 0:
            raise ValueError("a patch table gives rows only (dim 0)")
        p = self.patch_size
        steps = torch.arange(p, device=index.device)
        offsets = steps[:, None] * self.row[index, None, None] + steps  # (k, p, p)
        flat = (self.origin[index, None, None] + offsets).flatten()
        rows = self.pixels.index_select(1, flat).view(self.pixels.shape[0], index.numel(), p * p)
        return rows.transpose(0, 1).reshape(index.numel(), -1)

    def __getitem__(self, rows: slice) -> torch.Tensor:
        start, stop, step = rows.indices(self.origin.numel())
        return self.index_select(0, torch.arange(start, stop, step, device=self.origin.device))

    def matrix(self, chunk: int = 16384) -> torch.Tensor:
        """The whole ``(n, C*p*p)`` patch matrix, contiguous, filled ``chunk`` rows at a time
        (no unfolded copy beside it)."""
        out = self.pixels.new_empty(self.shape)
        for s in range(0, out.shape[0], chunk):
            out[s : s + chunk] = self[s : s + chunk]
        return out


def fold_indexed(
    table: PatchTable,
    index: torch.Tensor,
    size: tuple[int, int],
    patch_size: int,
    window: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Fold the patches ``index`` (one per patch of an image of ``size``, row-major) of
    ``table`` into a ``(C, H, W)`` image by a ``window``-weighted mean, dividing by
    ``weights`` (:func:`fold_weights` of ``size``).

    The same as :func:`fold_patches` of the gathered patches, without unfolding them: one
    shifted gather and add per pixel of the window, so the memory is a few images'.

    Examples
    --------
    >>> x, win = torch.rand(3, 9, 11), gaussian_window(5, 2.0)
    >>> y = fold_indexed(PatchTable.of([x], 5), torch.arange(35), (9, 11), 5, win,
    ...                  fold_weights((9, 11), 5, win))
    >>> torch.allclose(x, y, atol=1e-6)
    True
    """
    gh, gw = grid_shape(size, patch_size)
    origin, row = table.origin[index], table.row[index]
    out = table.pixels.new_zeros(table.pixels.shape[0], *size)
    for dy, weights_row in enumerate(window.tolist()):
        start = origin + dy * row
        for dx, weight in enumerate(weights_row):
            patch_pixels = table.pixels.index_select(1, start + dx).view(-1, gh, gw)
            out[:, dy : dy + gh, dx : dx + gw].add_(patch_pixels, alpha=weight)
    return out / weights.reshape(size)


def valid_patches(mask: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Which patches of an image lie wholly outside a ``(H, W)`` boolean mask, as a flat
    ``(n,)`` boolean tensor in patch order.

    Examples
    --------
    >>> m = torch.zeros(8, 8, dtype=torch.bool); m[0, 0] = True
    >>> v = valid_patches(m, 7)
    >>> v.tolist()
    [False, True, True, True]
    """
    hit = F.max_pool2d(mask[None, None].float(), patch_size, stride=1)
    return (hit == 0).flatten()
