"""Patch extraction (unfold) and weighted recombination of overlapping patches (fold).

A patch is flattened channel-major, as :func:`torch.nn.functional.unfold` does, to a vector
of ``C * p * p`` values; the patches of an ``H x W`` image form a grid of
``(H - p + 1) x (W - p + 1)`` patches in row-major order (stride 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "extract_patches",
    "fold_patches",
    "fold_weighted",
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


def fold_weighted(
    weighted: torch.Tensor, size: tuple[int, int], patch_size: int, weights: torch.Tensor
) -> torch.Tensor:
    """Fold patches already multiplied by the window (:func:`weight_patches`) and divide by
    the weights' sum (:func:`fold_weights`): :func:`fold_patches` with its per-size work
    done once by the caller."""
    return F.fold(weighted.transpose(1, 2), size, patch_size) / weights


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
    return fold_weighted(
        weight_patches(patches, window), size, patch_size, fold_weights(size, patch_size, window)
    )


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
