"""What every task needs before it calls an engine: the device, the search backend, the
source pyramid with its depth checked, and the parameters validated."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..engines.gpnn import GPNNParams, Source, synthesize
from ..errors import InputError
from ..nn import BACKENDS, NearestNeighbourSearch, make_backend
from ..pyramid import (
    depth_for_coarsest,
    depth_for_region,
    level_sizes,
    mask_pyramid,
    pyramid,
    resize,
)

__all__ = [
    "ENGINES",
    "check_engine",
    "check_levels",
    "gpdm_options",
    "default_nn",
    "guided_synthesis",
    "region_depth",
    "region_extent",
    "resolve_device",
    "retarget_depth",
    "search_backend",
    "split_params",
]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device to compute on: CUDA when available unless ``device`` says otherwise.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda was asked for but no CUDA GPU is available")
    return dev


def default_nn(device: torch.device) -> str:
    """The default search backend: exact on a GPU, the fastest approximate one on a CPU.

    Examples
    --------
    >>> default_nn(torch.device("cuda"))
    'exact'
    """
    if device.type == "cuda" or "patchmatch" not in BACKENDS:
        return "exact"
    return "patchmatch"


def search_backend(
    nn: str | None, device: torch.device, seed: int, memory_budget: int | None
) -> NearestNeighbourSearch:
    """A fresh search backend for one run, given the options it accepts."""
    name = nn or default_nn(device)
    if name not in BACKENDS:
        raise InputError(
            f"unknown nearest-neighbour backend {name!r} "
            f"(choose from {', '.join(sorted(BACKENDS))})"
        )
    if memory_budget is not None and memory_budget < 1 << 20:
        raise InputError(f"memory budget must be at least 1 MiB, got {memory_budget} bytes")
    accepted = inspect.signature(BACKENDS[name]).parameters
    options = {"seed": seed, "memory_budget": memory_budget}
    return make_backend(
        name, **{k: v for k, v in options.items() if k in accepted and v is not None}
    )


def split_params(options: dict[str, object], **defaults: object) -> GPNNParams:
    """GPNN parameters from keyword options over a task's ``defaults``; an unknown option is
    an error, not ignored, and an option given as None keeps the default.

    Examples
    --------
    >>> split_params({"iters": 3, "alpha": None}, alpha=5e-3).alpha
    0.005
    """
    fields = GPNNParams.__dataclass_fields__
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise InputError(f"unknown parameter(s): {', '.join(unknown)}")
    given = {k: v for k, v in options.items() if v is not None}
    return GPNNParams(**{**defaults, **given})


def check_levels(
    size: Sequence[int], ratio: float, levels: int, patch_size: int, what: str
) -> list[tuple[int, int]]:
    """Level sizes of an image, checked to hold patches at the coarsest level."""
    if levels < 0:
        raise InputError(f"levels must be >= 0, got {levels}")
    sizes = level_sizes(size, ratio, levels)
    h, w = sizes[-1]
    if min(h, w) < patch_size:
        raise InputError(
            f"{what} of {size[1]}x{size[0]} px is too small for {patch_size}x{patch_size} "
            f"patches at {levels} pyramid levels (coarsest {w}x{h} px)"
        )
    return sizes


def guided_synthesis(
    sources: Sequence[torch.Tensor],
    guess: torch.Tensor,
    depth: int,
    params: GPNNParams,
    search: NearestNeighbourSearch,
    *,
    masks: Sequence[torch.Tensor | None] | None = None,
    sigma: float = 0.0,
    seed: int = 0,
    progress: bool = False,
) -> torch.Tensor:
    """GPNN from an initial guess given at full output size: the recipe of every task but
    random generation.

    Each source becomes a pyramid of ``depth`` downscalings (with its mask pyramid, if it has
    a mask); ``guess`` is downscaled by r^N to the output's coarsest level, optionally with
    Gaussian noise of standard deviation ``sigma`` added there, and refined coarse to fine.

    Parameters
    ----------
    sources : sequence of Tensor, (3, h, w)
        Keys and values come from all of them.
    guess : Tensor, (B, 3, H, W)
        The initial guess at the output size; the output has its size.
    depth : int
        Number of downscalings N.
    params : GPNNParams
    search : NearestNeighbourSearch
        A fresh backend for this run.
    masks : sequence of (bool Tensor (h, w) or None), optional
        Per source, the pixels that may not be copied from.
    sigma : float
        Noise at the coarsest level; ``seed`` seeds it.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    Tensor, (B, 3, H, W), values in [0, 1]

    Examples
    --------
    >>> from dropgan.nn import ExactSearch
    >>> x = torch.rand(3, 20, 24)
    >>> guided_synthesis([x], x[None], 1, GPNNParams(iters=1), ExactSearch()).shape
    torch.Size([1, 3, 20, 24])
    """
    p, r = params.patch_size, params.ratio
    out_sizes = check_levels(tuple(guess.shape[-2:]), r, depth, p, "output")
    masks = masks or [None] * len(sources)
    pyramids = []
    for i, (x, mask) in enumerate(zip(sources, masks, strict=True)):
        what = "source image" if len(sources) == 1 else f"source image {i + 1}"
        sizes = check_levels(tuple(x.shape[-2:]), r, depth, p, what)
        levels = pyramid(x, sizes)
        pyramids.append(Source(levels, None if mask is None else mask_pyramid(mask, sizes)))
    initial = resize(guess, out_sizes[-1])
    if sigma > 0:
        gen = torch.Generator().manual_seed(seed)
        initial = initial + sigma * torch.randn(initial.shape, generator=gen).to(initial)
    return synthesize(pyramids, initial, out_sizes, params, search, progress)


def retarget_depth(
    source_sizes: Sequence[Sequence[int]], out_size: Sequence[int], ratio: float, patch_size: int
) -> int:
    """Pyramid depth for retargeting and collage.

    The paper's rule (§4): the smaller side of the (smallest) source at the coarsest level is
    about four patches; capped by the generation rule for the output (its smaller side at
    least about two patches there), so that a much smaller target still holds patches.

    Examples
    --------
    >>> retarget_depth([(168, 250)], (168, 400), 0.8, 7)
    9
    """
    short = min(min(s) for s in source_sizes)
    by_source = depth_for_coarsest((short, short), ratio, 4 * patch_size)
    return min(by_source, depth_for_coarsest(out_size, ratio, 2 * patch_size))


def _run_maxima(labels: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Every pixel of a horizontal run of ``inside`` pixels gets the run's largest label."""
    starts = inside.clone()
    starts[:, 1:] &= ~inside[:, :-1]
    # runs numbered from 1 in row-major order; 0 outside (a run never wraps to the next
    # row, since every row's first inside pixel starts a run)
    run = (torch.cumsum(starts.flatten(), 0) * inside.flatten()).long()
    best = torch.zeros(int(run.max()) + 1, dtype=labels.dtype)
    best = best.scatter_reduce(0, run, labels.flatten(), "amax")
    return (best[run] * inside.flatten()).view_as(labels)


def region_extent(mask: torch.Tensor, patch_size: int) -> tuple[int, int]:
    """(height, width) of the bounding box of the largest connected part of a non-empty
    boolean ``(H, W)`` mask, the size of the largest part measured by its longer side.

    Parts less than a patch apart count as one, so an edit whose changed pixels are broken
    up by unchanged ones is one region, while separate edits far apart do not add up to one
    huge region.

    Examples
    --------
    >>> m = torch.zeros(40, 40, dtype=torch.bool)
    >>> m[2:6, 2:12] = True; m[30:33, 30:33] = True
    >>> region_extent(m, 7)
    (4, 10)
    """
    # only the mask's bounding box matters: crop to it to label fewer pixels
    ys, xs = mask.nonzero(as_tuple=True)
    mask = mask[int(ys.min()) : int(ys.max()) + 1, int(xs.min()) : int(xs.max()) + 1]
    h, w = mask.shape
    reach = patch_size // 2
    joined = F.max_pool2d(mask[None, None].float(), 2 * reach + 1, 1, reach)[0, 0] > 0
    # label every pixel of a part with the largest pixel index in it, spreading maxima along
    # rows and columns in turn: a few rounds for any part short of a maze
    labels = torch.arange(1, h * w + 1).reshape(h, w) * joined
    while True:
        spread = _run_maxima(_run_maxima(labels, joined).T, joined.T).T
        if torch.equal(spread, labels):
            break
        labels = spread
    ys, xs = mask.nonzero(as_tuple=True)
    part = torch.unique(labels[ys, xs], return_inverse=True)[1]
    parts = int(part.max()) + 1

    def span(coord: torch.Tensor) -> torch.Tensor:
        start = torch.zeros(parts, dtype=coord.dtype)
        hi = start.scatter_reduce(0, part, coord, "amax", include_self=False)
        lo = start.scatter_reduce(0, part, coord, "amin", include_self=False)
        return hi - lo + 1

    heights, widths = span(ys), span(xs)
    largest = int(torch.maximum(heights, widths).argmax())
    return int(heights[largest]), int(widths[largest])


def region_depth(mask: torch.Tensor, ratio: float, patch_size: int, patches: float = 1.0) -> int:
    """Pyramid depth for inpainting and editing: the largest region of ``mask`` (see
    :func:`region_extent`) shrinks to about ``patches`` patches at the coarsest level (the
    paper's rule, §4, is one), capped by the generation rule for the image (its smaller side
    at least about two patches there).

    Examples
    --------
    >>> m = torch.zeros(180, 250, dtype=torch.bool); m[50:78, 90:118] = True
    >>> region_depth(m, 0.75, 7)
    5
    >>> region_depth(m, 0.75, 7, patches=2.0)
    2
    """
    extent = [side / patches for side in region_extent(mask, patch_size)]
    by_region = depth_for_region(extent, ratio, patch_size)
    return min(by_region, depth_for_coarsest(tuple(mask.shape), ratio, 2 * patch_size))


ENGINES = ("gpnn", "gpdm")


def gpdm_options(params: dict[str, object], nn: str | None, levels: int | None) -> dict:
    """Keyword options for :func:`~dropgan.engines.gpdm.gpdm` from a task's ``**params``;
    GPNN-only options are refused rather than silently ignored."""
    from ..engines.gpdm import gpdm

    if nn is not None or levels is not None:
        raise InputError("--nn and --levels apply to the gpnn engine only")
    own = {
        name
        for name, p in inspect.signature(gpdm).parameters.items()
        if p.kind is p.KEYWORD_ONLY and name not in ("generator", "progress", "on_level", "sigma")
    }
    unknown = sorted(set(params) - own)
    if unknown:
        raise InputError(
            f"parameter(s) {', '.join(unknown)} do not apply to the gpdm engine "
            f"(it takes {', '.join(sorted(own))})"
        )
    return {k: v for k, v in params.items() if v is not None}


def check_engine(engine: str) -> None:
    """Raise :class:`InputError` for an unknown engine name."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
