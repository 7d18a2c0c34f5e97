"""Editing and reshuffling: blend a rough edit of an image seamlessly into it (GPNN paper §4,
"Image Editing"; SinGAN paper §4, "Editing").

With GPNN the edited image is the initial guess of a pyramid of the original's patches,
which redraws the edit and its surroundings coherently; nothing is blended.

With SinGAN (``engine="singan"``), as its authors' ``editing.py`` (tamarott/SinGAN): a
model is trained on the original (``fast`` schedule unless told otherwise, or a model
trained before is given as ``model``), the edited image is injected at ``start_scale``
(default 2, an intermediate scale as the paper's Fig. 12; their script requires it) as
``in_s`` of their ``SinGAN_generate`` (:mod:`dropgan.engines.singan.sample`), and the
output is blended into the original by the edit mask dilated by a disk of radius 20 and
blurred by a Gaussian of sigma 5 (their ``dilate_mask`` in ``SinGAN/functions.py``, the
``editing`` radius): ``(1 - mask) real + mask out``. Their script reads the mask from a
file; here it is optional, by default the pixels the edit changed (:func:`edited_pixels`).
Their output has the model's size (at most 250 px); here it is resized to the original's
before the blend. Blending is the default for engines that learn (``blend``).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from ..errors import InputError
from ..image import ImageLike, read_image, read_mask
from ..progress import ProgressLike, as_progress
from ..result import Result
from .common import (
    at_size,
    check_sigma,
    input_record,
    make_result,
    prepare_model,
    region_depth,
    run_samples,
    task_plan,
)
from .harmonize import BLEND_BLUR, blend_into, soft_mask

__all__ = [
    "EDIT_DILATION",
    "EDIT_THRESHOLD",
    "REGION_PATCHES",
    "add_edit_command",
    "edit",
    "edited_pixels",
]

#: Radius (px) of the disk that dilates the edit mask before blending: SinGAN's editing
#: value (``dilate_mask`` in their ``SinGAN/functions.py``; 7 for harmonization).
EDIT_DILATION = 20

#: Size of the largest edited region at the coarsest level, in patches, of the default depth.
#: The paper says about one; but a region of one patch there is redrawn from its
#: surroundings and the edit is undone, while 1.5 keeps it and still blends it in, and gives
#: the authors' 5 levels for their own example (blocks of about 42 px in a 250 x 168 image).
REGION_PATCHES = 1.5

#: A pixel is edited when a channel differs by more than this (on [0, 1] values): about 13
#: grey levels of 255, above the noise of a lossy re-save.
EDIT_THRESHOLD = 0.05


def edited_pixels(original: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
    """Where ``edited`` differs from ``original`` (both ``(3, H, W)``), as an ``(H, W)``
    boolean mask (see :data:`EDIT_THRESHOLD`).

    Examples
    --------
    >>> x = torch.zeros(3, 4, 4); y = x.clone(); y[0, 1, 2] = 1.0
    >>> edited_pixels(x, y).nonzero().tolist()
    [[1, 2]]
    """
    return (edited - original).abs().amax(dim=0) > EDIT_THRESHOLD


def edit(
    original: ImageLike,
    edited: ImageLike,
    n: int = 1,
    *,
    seed: int = 0,
    start: int = 0,
    sigma: float = 0.0,
    mask: ImageLike | None = None,
    blend: bool | None = None,
    levels: int | None = None,
    engine: str = "gpnn",
    model: object = None,
    device: str | torch.device | None = None,
    progress: ProgressLike = False,
    **params: object,
) -> Result:
    """Blend a naive edit (objects moved, added, removed) into the image.

    The source is the unedited ``original``; the initial guess is ``edited`` downscaled by
    r^N, so GPNN redraws the edited region and its surroundings coherently with the
    original's patches. Noise added at the coarsest level gives several variants. SinGAN
    injects ``edited`` at a scale and blends (see the module notes); its variants differ
    by its own noise.

    Parameters
    ----------
    original : path, PIL.Image, ndarray or Tensor
        The image before the edit: the source of every patch.
    edited : path, PIL.Image, ndarray or Tensor
        The naively edited image, the same size.
    n : int
        Number of variants.
    seed : int
        Seed of the run; variant ``i`` uses a seed derived from it and ``i`` alone.
    start : int
        Index of the first variant.
    sigma : float
        Standard deviation of Gaussian noise added to the initial guess at the coarsest
        level, per pixel and channel, on [0, 1] values. Default 0 (no noise). SinGAN
        draws its own noise and does not use it.
    mask : path, PIL.Image, ndarray or Tensor, optional
        The edited region: non-black pixels, the same size. Default: the pixels that
        differ (:func:`edited_pixels`).
    blend : bool, optional
        Blend the output into ``original`` by the mask, dilated by :data:`EDIT_DILATION`
        px and blurred (SinGAN's ``editing.py``), so that nothing away from the edit
        changes. Default: for engines that learn (SinGAN), not for GPNN, whose pyramid
        redraws the surroundings to fit.
    levels : int, optional
        Number of downscalings N; by default the largest edited region (pixels that differ,
        :func:`edited_pixels`) is about 1.5 patches at the coarsest level
        (:data:`REGION_PATCHES`, :func:`~dropgan.tasks.common.region_depth`; the paper says
        about one patch, which undoes the edit).
    engine : str
        A registered engine that does this task (GPNN by default; ``"singan"``, see the
        module notes); ``**params`` are its parameters.
    model : model or folder, optional
        A model of ``original`` trained before (:func:`dropgan.train`), used instead of
        training (by ``engine`` if it learns, else by SinGAN); ``**params`` may then only
        change how it samples (SinGAN: ``start_scale``).
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    progress : bool or callable
        A bar on stderr, or a callable receiving :class:`~dropgan.progress.ProgressEvent`;
        an exception it raises cancels the run.
    **params
        The engine's parameters. GPNN's defaults for this task: ``alpha`` inf, since
        completeness is not wanted, an edit may remove something (paper and authors'
        code); the others as for generation. SinGAN's: ``schedule`` fast,
        ``start_scale`` 2.

    Returns
    -------
    Result
        ``n`` images, each ``(3, H, W)`` with values in [0, 1], and their metadata.

    Examples
    --------
    >>> import dropgan
    >>> x = torch.rand(3, 24, 32); y = x.clone(); y[:, 4:10, 4:10] = 0.0
    >>> [tuple(o.shape) for o in dropgan.edit(x, y, levels=1, iters=1, nn="exact")]
    [(3, 24, 32)]
    """
    root = as_progress(progress)
    sigma = check_sigma(sigma)
    plan, trained, model_inputs = task_plan("edit", engine, params, device, levels, model)
    x = read_image(original, "original")
    e = read_image(edited, "edited")
    if x.shape != e.shape:
        raise InputError(
            f"the edited image is {e.shape[2]}x{e.shape[1]} px but the original "
            f"{x.shape[2]}x{x.shape[1]} px; they must be the same size"
        )
    size = tuple(x.shape[-2:])
    if mask is None:
        changed = edited_pixels(x, e)
        if not changed.any():
            raise InputError("the edited image does not differ from the original: nothing to blend")
    else:
        changed = read_mask(mask)
        if tuple(changed.shape) != size:
            raise InputError(
                f"the mask is {changed.shape[1]}x{changed.shape[0]} px but the original "
                f"{size[1]}x{size[0]} px; they must be the same size"
            )
        if not changed.any():
            raise InputError("the mask is empty: paint the edited region white (any non-black)")
    if blend is None:
        blend = plan.learns
    depth = plan.depth([size], size, lambda r, p: region_depth(changed, r, p, REGION_PATCHES))
    problem = plan.problem([x.to(plan.device)], size, depth, initial=e.to(plan.device))
    weight = soft_mask(changed.to(plan.device), EDIT_DILATION, BLEND_BLUR) if blend else None
    trained = prepare_model(plan, problem, seed, root, trained)
    real = x.to(plan.device)

    def one(seed: int, progress) -> torch.Tensor:
        noise = plan.noise(problem.out_sizes[-1], sigma, seed)
        y = at_size(plan.run(replace(problem, noise=noise), seed, progress, trained), size)
        return y if weight is None else blend_into(y, real, weight)

    images, own = run_samples(n, seed, start, root, one)
    return make_result(
        plan,
        images,
        own,
        root,
        seed=seed,
        depth=depth,
        inputs=[
            input_record(original, x, "original"),
            input_record(edited, e, "edited"),
            *([] if mask is None else [input_record(mask, changed, "mask")]),
            *model_inputs,
        ],
        options={"sigma": sigma, "blend": bool(blend)},
    )


def add_edit_command(sub: argparse._SubParsersAction) -> None:
    """The ``dropgan edit`` subcommand, with ``--mask``, ``--no-blend``/``--blend`` and
    ``--model`` (wired into :func:`dropgan.cli.build_parser`)."""
    from ..cli import (
        _api_kwargs,
        _engine_options,
        _image_command,
        _number,
        _run_options,
        _stem,
        _task_epilog,
    )
    from .common import add_model_option

    def run(args: argparse.Namespace, **call: object) -> Result:
        kw = {**_api_kwargs(args), **call}
        return edit(
            args.original,
            args.edited,
            sigma=args.sigma,
            mask=args.mask,
            blend=args.blend,
            model=args.model,
            **kw,
        )

    def names(args: argparse.Namespace) -> list[str]:
        stem = f"{_stem(args.edited)}_edit"
        return [f"{stem}_{i}.png" for i in range(args.start, args.start + max(args.n, 0))]

    p = sub.add_parser(
        "edit",
        parents=[_engine_options("edit"), _run_options()],
        help="blend a rough edit (moved, added, removed objects) into the image",
        description="Editing: redraw EDITED, a naive edit of ORIGINAL, with ORIGINAL's "
        "patches so that the edit blends in.",
        epilog=_task_epilog("edit", "the largest edited region about 1.5 patches"),
    )
    p.add_argument("original", help="the image before the edit")
    p.add_argument("edited", help="the naively edited image, the same size")
    p.add_argument("-n", type=int, default=1, help="number of variants (default: 1)")
    p.add_argument("--start", type=int, default=0, help="index of the first variant (default: 0)")
    p.add_argument(
        "--sigma",
        type=_number,
        default=0.0,
        help="noise at the coarsest level, for variants (default: 0)",
    )
    p.add_argument("--mask", help="the edited region, white (default: the pixels the edit changed)")
    blend = p.add_mutually_exclusive_group()
    blend.add_argument(
        "--blend",
        dest="blend",
        action="store_true",
        default=None,
        help="blend the output into ORIGINAL by the dilated, blurred mask "
        "(default: with engines that learn)",
    )
    blend.add_argument("--no-blend", dest="blend", action="store_false", help="do not blend")
    add_model_option(p, "ORIGINAL")
    p.set_defaults(run=_image_command(run, names, samples=True))
