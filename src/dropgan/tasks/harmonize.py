"""Harmonization: an object pasted into an image takes on the image's look (its colours,
strokes, grain) while keeping its shape (SinGAN, Shaham et al. 2019, §4 "Harmonization"; here
with patch nearest neighbours).

The source is the background alone; the initial guess is the naive composite, kept as it is
at the coarsest level (``coarsest_iters=0``, as SinGAN injects the composite at a scale), and
every finer level is rebuilt from the background's patches, so the object's layout survives
while its detail is redrawn with the background's. The pyramid is shallow: the pasted region
is about :data:`REGION_PATCHES` patches across at the coarsest level, where editing shrinks
it to one and so erases it. Finally the result is blended into the background by the
dilated, blurred mask, as SinGAN's authors (``harmonization.py``, ``dilate_mask`` in
``SinGAN/functions.py``: a disk of radius 7, a Gaussian of sigma 5, rescaled to [0, 1]), so
that nothing outside the object and its rim changes.

With SinGAN (``engine="singan"``), as its authors' ``harmonization.py`` (tamarott/SinGAN):
a model is trained on the background (with the ``fast`` schedule unless told otherwise, or
a model trained before is given as ``model``), the naive composite is injected at the
``start_scale`` (default 3; their script requires it, "the coarsest injection scale equals
1") as ``in_s`` of their ``SinGAN_generate`` (:mod:`dropgan.engines.singan.sample`), the
finer generators redraw it, and the result is blended by the same dilated, blurred mask,
``(1 - mask) real + mask out``. Their output has the model's size (at most 250 px); here
it is resized to the background's before the blend, so that every pixel away from the
object is the background's own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..image import ImageLike, read_image, read_mask
from ..progress import ProgressLike, as_progress
from ..result import Result
from .common import (
    at_size,
    input_record,
    make_result,
    prepare_model,
    region_depth,
    run_samples,
    task_plan,
)

__all__ = [
    "BLEND_BLUR",
    "DILATION",
    "REGION_PATCHES",
    "add_harmonize_command",
    "blend_into",
    "harmonize",
    "harmonize_depth",
    "soft_mask",
]

#: Size of the pasted region at the coarsest level of the default depth, in patches: about
#: 12 keeps the object's silhouette and redraws its texture (2 levels for both of SinGAN's
#: examples, objects of 135 and 156 px); 1.5, the editing rule, redraws it away entirely, and
#: 3 levels leave a ghost of their Christmas tree (checked by eye).
REGION_PATCHES = 12.0

#: Radius (px) of the disk that dilates the mask before blending, and the standard
#: deviation (px) of the Gaussian that blurs it: SinGAN's harmonization values.
DILATION, BLEND_BLUR = 7, 5.0


def soft_mask(
    mask: torch.Tensor, radius: int = DILATION, sigma: float = BLEND_BLUR
) -> torch.Tensor:
    """The blending weight of a boolean ``(H, W)`` mask, as SinGAN's ``dilate_mask``: dilated
    by a disk of ``radius``, blurred by a Gaussian of standard deviation ``sigma`` (cut at 4
    sigma, edges extended: ``skimage.filters.gaussian``'s defaults there) and rescaled to
    span [0, 1].

    Examples
    --------
    >>> m = torch.zeros(40, 40, dtype=torch.bool); m[15:25, 15:25] = True
    >>> w = soft_mask(m)
    >>> round(float(w[20, 20]), 6), float(w[0, 0])
    (1.0, 0.0)
    """
    r = torch.arange(-radius, radius + 1, device=mask.device)
    disk = ((r[:, None] ** 2 + r[None] ** 2) <= radius**2).float()[None, None]
    grown = (F.conv2d(mask[None, None].float(), disk, padding=radius) > 0).float()
    k = int(4 * sigma + 0.5)
    g = torch.exp(-(torch.arange(-k, k + 1, device=mask.device).float() ** 2) / (2 * sigma**2))
    g = g / g.sum()
    blurred = F.conv2d(F.pad(grown, (k, k, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))
    blurred = F.conv2d(F.pad(blurred, (0, 0, k, k), mode="replicate"), g.view(1, 1, -1, 1))
    out = blurred[0, 0]
    lo, hi = out.min(), out.max()
    return (out - lo) / (hi - lo) if hi > lo else torch.ones_like(out)


def blend_into(image: torch.Tensor, base: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``image`` where ``weight`` (a :func:`soft_mask`) is 1, ``base`` where it is 0, mixed
    between: the SinGAN authors' ``(1 - mask) real + mask out``.

    Examples
    --------
    >>> w = torch.tensor([[0.0, 0.25, 1.0]])
    >>> blend_into(torch.ones(3, 1, 3), torch.zeros(3, 1, 3), w)[0].tolist()
    [[0.0, 0.25, 1.0]]
    """
    return (weight * image + (1 - weight) * base).clamp(0.0, 1.0)


def harmonize_depth(mask: torch.Tensor, ratio: float, patch_size: int) -> int:
    """Default depth: the pasted region's largest part is about :data:`REGION_PATCHES`
    patches across at the coarsest level (:func:`~dropgan.tasks.common.region_depth`), and
    at least one level, without which nothing would be redrawn.

    Examples
    --------
    >>> m = torch.zeros(201, 256, dtype=torch.bool); m[40:117, 60:195] = True
    >>> harmonize_depth(m, 0.75, 7), harmonize_depth(m[:40, :40] | True, 0.75, 7)
    (2, 1)
    """
    return max(1, region_depth(mask, ratio, patch_size, REGION_PATCHES))


def harmonize(
    background: ImageLike,
    naive: ImageLike,
    mask: ImageLike,
    *,
    levels: int | None = None,
    engine: str = "gpnn",
    model: object = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: ProgressLike = False,
    **params: object,
) -> Result:
    """Blend the object pasted into ``naive`` into the look of ``background``.

    Parameters
    ----------
    background : path, PIL.Image, ndarray or Tensor
        The image without the object: the source of every patch.
    naive : path, PIL.Image, ndarray or Tensor
        The naive composite: ``background`` with the object pasted in; the same size.
    mask : path, PIL.Image, ndarray or Tensor
        The pasted object: non-black pixels; the same size.
    levels : int, optional
        Number of downscalings N; by default the object's largest region is about
        :data:`REGION_PATCHES` patches at the coarsest level, at least one level
        (:func:`harmonize_depth`). More levels redraw more of the object.
    engine : str
        A registered engine that harmonizes (GPNN by default; ``"singan"`` trains a SinGAN
        on the background and injects the composite, see the module notes); ``**params``
        are its parameters.
    model : model or folder, optional
        A model of ``background`` trained before (:func:`dropgan.train`), used instead of
        training (by ``engine`` if it learns, else by SinGAN); ``**params`` may then only
        change how it samples (SinGAN: ``start_scale``).
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    seed : int
        Seed of any randomised search.
    progress : bool or callable
        A bar on stderr, or a callable receiving :class:`~dropgan.progress.ProgressEvent`;
        an exception it raises cancels the run.
    **params
        The engine's parameters. GPNN's defaults for this task: ``coarsest_iters`` 0 (the
        composite's layout is kept at the coarsest level); ``alpha`` inf and the others as
        for generation. SinGAN's: ``schedule`` fast, ``start_scale`` 3.

    Returns
    -------
    Result
        One image ``(3, H, W)`` with values in [0, 1], equal to ``background`` away from the
        object, and its metadata.

    Examples
    --------
    >>> bg = torch.rand(3, 32, 40); naive = bg.clone(); naive[:, 10:20, 12:24] = 0.9
    >>> m = torch.zeros(32, 40); m[10:20, 12:24] = 1
    >>> tuple(harmonize(bg, naive, m, levels=1, nn="exact").image.shape)
    (3, 32, 40)
    """
    root = as_progress(progress)
    plan, trained, model_inputs = task_plan("harmonize", engine, params, device, levels, model)
    bg = read_image(background, "background").to(plan.device)
    composite = read_image(naive, "naive composite").to(plan.device)
    pasted = read_mask(mask).to(plan.device)
    h, w = bg.shape[-2:]
    for what, shape in (("naive composite", composite.shape[-2:]), ("mask", pasted.shape)):
        if tuple(shape) != (h, w):
            raise InputError(
                f"the {what} is {shape[1]}x{shape[0]} px but the background {w}x{h} px; "
                "they must be the same size"
            )
    if not pasted.any():
        raise InputError("the mask is empty: paint the pasted object white (any non-black)")
    size = (h, w)
    depth = plan.depth([size], size, lambda r, p: harmonize_depth(pasted.cpu(), r, p))
    problem = plan.problem([bg], size, depth, initial=composite)
    weight = soft_mask(pasted)
    trained = prepare_model(plan, problem, seed, root, trained)

    def one(seed: int, progress) -> torch.Tensor:
        y = at_size(plan.run(problem, seed, progress, trained), size)
        return blend_into(y, bg, weight)

    images, own = run_samples(1, seed, 0, root, one)
    return make_result(
        plan,
        images,
        own,
        root,
        seed=seed,
        depth=depth,
        inputs=[
            input_record(background, bg, "background"),
            input_record(naive, composite, "naive"),
            input_record(mask, pasted, "mask"),
            *model_inputs,
        ],
        options={},
    )


def add_harmonize_command(sub: argparse._SubParsersAction) -> None:
    """The ``dropgan harmonize`` subcommand (wired into :func:`dropgan.cli.build_parser`)."""
    from ..cli import _api_kwargs, _engine_options, _image_command, _run_options, _task_epilog
    from .common import add_model_option

    def run(args: argparse.Namespace, **call: object) -> Result:
        kw = {**_api_kwargs(args), **call}
        return harmonize(args.source, args.naive, args.mask, model=args.model, **kw)

    p = sub.add_parser(
        "harmonize",
        parents=[_engine_options("harmonize"), _run_options()],
        help="blend a pasted object into the look of the image it was pasted into",
        description="Harmonization: redraw the object pasted into --naive (marked by --mask) "
        "with the patches of --source, the image without it, keeping its shape; blended in "
        "by the dilated, blurred mask.",
        epilog=_task_epilog("harmonize", "the object about 12 patches across at the coarsest"),
    )
    p.add_argument("--source", required=True, help="the background, without the object")
    p.add_argument("--naive", required=True, help="the background with the object pasted in")
    p.add_argument("--mask", required=True, help="the pasted object: white (non-black) pixels")
    add_model_option(p, "--source")
    p.set_defaults(run=_image_command(run, lambda a: [f"{Path(a.naive).stem}_harmonized.png"]))
