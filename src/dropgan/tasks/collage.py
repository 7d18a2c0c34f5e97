"""Collage: several images merged seamlessly into one that keeps the patches of all of them
(GPNN paper §4, "Image Collage")."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import InputError
from ..image import ImageLike, read_image
from ..progress import ProgressLike, as_progress
from ..pyramid import resize
from ..result import Result
from .common import input_record, make_plan, make_result, retarget_depth, run_samples, size_text
from .generation import output_size

__all__ = ["MAX_HEIGHT_RATIO", "collage", "concatenate"]

#: Inputs whose heights differ by more than this factor are refused: squeezed to a common
#: height, the taller one's elements would shrink too much for its patches to fit back.
MAX_HEIGHT_RATIO = 2.0


def concatenate(images: Sequence[torch.Tensor]) -> Result:
    """The naive collage: the images side by side, each resized to the smallest height
    (keeping its aspect ratio), so that nothing is upsampled.

    Examples
    --------
    >>> concatenate([torch.rand(3, 20, 30), torch.rand(3, 40, 40)]).shape
    torch.Size([3, 20, 50])
    """
    h = min(x.shape[-2] for x in images)
    return torch.cat(
        [resize(x, (h, max(1, round(x.shape[-1] * h / x.shape[-2])))) for x in images], -1
    )


def collage(
    images: Sequence[ImageLike],
    size: Sequence[int] | None = None,
    *,
    levels: int | None = None,
    engine: str = "gpnn",
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: ProgressLike = False,
    **params: object,
) -> torch.Tensor:
    """Merge ``images`` into one image that holds the patches of every one of them.

    Keys and values come from all the inputs (each at its own size); the initial guess is
    their naive side-by-side concatenation (:func:`concatenate`), resized to ``size`` if
    given, downscaled by r^N. As the paper does, the rest is retargeting's design, with its
    small alpha so that nothing of any input is lost.

    Parameters
    ----------
    images : sequence of path, PIL.Image, ndarray or Tensor
        Two or more images whose heights differ at most by :data:`MAX_HEIGHT_RATIO`.
    size : (height, width), optional
        Output size; by default the concatenation's.
    levels : int, optional
        Number of downscalings N; by default retargeting's rule for the smallest input and
        the output (:func:`~dropgan.tasks.common.retarget_depth`).
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
        The engine's parameters. GPNN's defaults for this task are retargeting's: ``alpha``
        5e-3, ``ratio`` 0.8, ``coarsest_iters`` 10.

    Returns
    -------
    Result
        One image ``(3, H, W)`` with values in [0, 1], and its metadata.

    Examples
    --------
    >>> import dropgan
    >>> a, b = torch.rand(3, 20, 24), torch.rand(3, 20, 16)
    >>> tuple(dropgan.collage([a, b], levels=1, iters=1, nn="exact").image.shape)
    (3, 20, 40)
    """
    root = as_progress(progress)
    plan = make_plan("collage", engine, params, device, levels)
    if not isinstance(images, Sequence) or isinstance(images, str) or len(images) < 2:
        raise InputError("a collage needs a list of at least two images")
    xs = [read_image(im, f"image {i + 1}") for i, im in enumerate(images)]
    heights = [x.shape[-2] for x in xs]
    if max(heights) > MAX_HEIGHT_RATIO * min(heights):
        raise InputError(
            f"image heights range from {min(heights)} to {max(heights)} px; a collage needs "
            f"heights within a factor {MAX_HEIGHT_RATIO:g} of each other (resize them first)"
        )
    naive = concatenate(xs)
    out = output_size(tuple(naive.shape[-2:]), size)
    sizes = [tuple(x.shape[-2:]) for x in xs]
    depth = plan.depth(sizes, out, lambda r, p: retarget_depth(sizes, out, r, p))
    sources = [x.to(plan.device) for x in xs]
    problem = plan.problem(sources, out, depth, initial=resize(naive, out).to(plan.device))
    result, own = run_samples(1, seed, 0, root, lambda s, part: plan.run(problem, s, part))
    return make_result(
        plan,
        result,
        own,
        root,
        seed=seed,
        depth=depth,
        inputs=[
            input_record(im, x, f"image {i + 1}")
            for i, (im, x) in enumerate(zip(images, xs, strict=True))
        ],
        options={"size": size_text(out)},
    )
