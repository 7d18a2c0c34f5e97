"""Conditional inpainting: fill a hole with the image's own patches, steered by the colour it
is painted with (GPNN paper §4, "Conditional Inpainting")."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..image import ImageLike, read_image, read_mask
from ..patches import valid_patches
from ..progress import ProgressLike, as_progress
from ..pyramid import level_sizes, mask_pyramid
from ..result import Result
from .common import input_record, make_plan, make_result, region_depth, run_samples

__all__ = ["PAINTED_STD", "STEER_MODES", "inpaint", "inpaint_depth", "steer_hole"]

#: With ``steer="auto"``, a hole whose colour has at most this standard deviation (per
#: channel, on [0, 1] values) counts as painted by the user: about 5 grey levels of 255,
#: above the noise of a lossy save of a flat colour, far below the spread of any photograph.
PAINTED_STD = 0.02

STEER_MODES = ("auto", "painted", "mean")


def steer_hole(image: torch.Tensor, mask: torch.Tensor, steer: str, ring: int) -> Result:
    """The image the hole is filled from: as painted, or with the hole set to the mean colour
    of the pixels at most ``ring`` pixels outside it (a neutral steer).

    ``steer="auto"`` keeps a near-uniform hole (see :data:`PAINTED_STD`) as painted and
    fills any other hole with the mean.

    Examples
    --------
    >>> x = torch.full((3, 9, 9), 0.25)
    >>> m = torch.zeros(9, 9, dtype=torch.bool); m[3:6, 3:6] = True
    >>> x[:, m] = torch.rand(3, 9)
    >>> steer_hole(x, m, "auto", 1)[:, 4, 4].tolist()
    [0.25, 0.25, 0.25]
    """
    if steer not in STEER_MODES:
        raise InputError(f"unknown steer {steer!r} (choose from {', '.join(STEER_MODES)})")
    painted = image[:, mask].std(dim=1, unbiased=False).max() <= PAINTED_STD
    if steer == "painted" or (steer == "auto" and painted):
        return image
    near = F.max_pool2d(mask[None, None].float(), 2 * ring + 1, 1, ring)[0, 0] > 0
    fill = image[:, near & ~mask].mean(dim=1)
    out = image.clone()
    out[:, mask] = fill[:, None]
    return out


def inpaint_depth(mask: torch.Tensor, ratio: float, patch_size: int) -> int:
    """Default depth: the hole's largest region shrinks to about one patch at the coarsest
    level (the paper's rule, see :func:`~dropgan.tasks.common.region_depth`), reduced while
    the mask would leave no patch to copy from at the coarsest level.

    Examples
    --------
    >>> m = torch.zeros(100, 100, dtype=torch.bool); m[40:60, 40:60] = True
    >>> inpaint_depth(m, 0.75, 7)
    4
    """
    depth = region_depth(mask, ratio, patch_size)
    size = tuple(mask.shape)
    while depth > 0:
        coarsest = mask_pyramid(mask, [level_sizes(size, ratio, depth)[-1]])[0]
        if valid_patches(coarsest, patch_size).any():
            break
        depth -= 1
    return depth


def inpaint(
    image: ImageLike,
    mask: ImageLike,
    *,
    steer: str = "auto",
    levels: int | None = None,
    engine: str = "gpnn",
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: ProgressLike = False,
    **params: object,
) -> torch.Tensor:
    """Fill the ``mask``ed hole of ``image`` with the image's own patches.

    The hole's colour steers the fill (blue toward sky, green toward grass): the initial
    guess is the image itself, hole included, downscaled by r^N. Patches that overlap the
    hole are never copied, at any pyramid level: the mask is resized to every level
    conservatively (:func:`~dropgan.pyramid.mask_pyramid`), so no pixel of the hole reaches
    the output.

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor
        The image, with the hole painted in the steering colour (or not painted at all).
    mask : path, PIL.Image, ndarray or Tensor
        The hole: non-black pixels; the same size as ``image``.
    steer : {"auto", "painted", "mean"}
        ``"painted"`` steers with the hole as it is; ``"mean"`` first fills it with the mean
        colour of a ring one patch wide around it (a neutral steer for a hole over an
        unpainted photo); ``"auto"`` (default) takes the hole as painted when it is
        near-uniform (:data:`PAINTED_STD`), else the mean.
    levels : int, optional
        Number of downscalings N; by default the hole's largest region is about one patch at
        the coarsest level (the paper's rule; :func:`inpaint_depth`).
    engine : str
        A registered engine that does this task (GPNN by default); ``**params`` are its
        parameters.
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    seed : int
        Seed of any randomised search.
    progress : bool or callable
        A bar on stderr, or a callable receiving :class:`~dropgan.progress.ProgressEvent`;
        an exception it raises cancels the run.
    **params
        The engine's parameters. GPNN's defaults for this task: ``alpha`` inf, plain MSE,
        since completeness is not wanted (paper and authors' code); the others as for
        generation.

    Returns
    -------
    Result
        One image ``(3, H, W)`` with values in [0, 1], of the image's size, and its metadata.

    Examples
    --------
    >>> import dropgan
    >>> x = torch.rand(3, 24, 32)
    >>> m = torch.zeros(24, 32); m[8:12, 10:16] = 1
    >>> tuple(dropgan.inpaint(x, m, levels=1, iters=1, nn="exact").image.shape)
    (3, 24, 32)
    """
    root = as_progress(progress)
    plan = make_plan("inpaint", engine, params, device, levels)
    x = read_image(image)
    hole = read_mask(mask)
    if hole.shape != x.shape[-2:]:
        h, w = x.shape[-2:]
        raise InputError(
            f"mask is {hole.shape[1]}x{hole.shape[0]} px but the image {w}x{h} px; "
            "they must be the same size"
        )
    if not hole.any():
        raise InputError("the mask is empty: paint the hole white (any non-black colour)")
    if hole.all():
        raise InputError("the mask covers the whole image; nothing is left to copy from")
    p = plan.patch_size
    size = tuple(x.shape[-2:])
    depth = plan.depth([size], size, lambda r, p: inpaint_depth(hole, r, p))
    steered = steer_hole(x, hole, steer, p).to(plan.device)
    problem = plan.problem([steered], size, depth, masks=[hole.to(plan.device)], initial=steered)
    images, own = run_samples(1, seed, 0, root, lambda s, part: plan.run(problem, s, part))
    return make_result(
        plan,
        images,
        own,
        root,
        seed=seed,
        depth=depth,
        inputs=[input_record(image, x, "image"), input_record(mask, hole, "mask")],
        options={"steer": steer},
    )
