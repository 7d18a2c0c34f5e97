"""Super-resolution from the image's own patches: small details recur across scales, so the
image itself, downscaled, shows how its blurry patches should look when sharp (Glasner, Bagon
and Irani, "Super-Resolution from a Single Image", ICCV 2009).

The factor is reached in steps of about 1/r (1.25 by default, refitted so that the steps
multiply to the factor exactly). Each step is a two-level problem for the engine: the source
pyramid is the current image y and y downscaled by the step; the output pyramid is y's size
and the step's size; the initial guess is y, kept at the coarse level (``coarsest_iters=0``).
GPNN then upscales it, matches each patch of the blurry upscaled image against the source's
equally blurry patches (the downscaled copy upscaled back, ``keys="blurred"``) and copies the
sharp patch of y at the matched place. After each step, back-projection (Irani and Peleg,
1991) makes the output consistent with the input: y += upscale(x - downscale(y)), a few
times, so that y downscaled to the input's size gives the input back.

Measured on Set5 and three Set14 images (×4, PSNR on Y; ``docs/restoration.md``): copying
patches alone loses 3.8 dB to bicubic; back-projection once at the end makes it +0.4 dB;
back-projection after every step +1.7 dB, where staged bicubic with the same
back-projection gives +0.6 dB.

With SinGAN (``engine="singan"``), as its authors' ``SR.py`` (tamarott/SinGAN) and the
paper (§4, "Super-Resolution"): a model is trained on the low-resolution image with
scales one SR step apart (``scale_factor`` 1/2^(1/3), from their ``calc_init_scale``),
the coarsest smaller side 18 px (their ``adjust_scales2image_SR``) and the reconstruction
weight 100 (their ``post_config`` sets ``alpha = 100`` for SR), with the ``fast`` schedule
unless told otherwise (:data:`~dropgan.engines.singan.params.SR_DEFAULTS`). The image is
then upscaled ``round(log(factor) / log(2^(1/3)))`` times (6 for x4) by
``factor^(1/steps)``, each time by the finest generator: the current image, upscaled by
the step, plus noise of the finest scale's amplitude, through G_N, plus itself. Each step
is a problem whose source is the low-resolution image and whose initial image is the
current one, injected at the finest scale (``start_scale`` -1). Their ``SR.py`` builds
zero ``z_opt`` maps for the steps but ``SinGAN_generate`` (``SinGAN/manipulate.py``)
draws fresh noise at every step (``gen_start_scale`` 0), one channel broadcast at the
first step (its ``n == 0`` branch) and three after; here every step draws three-channel
noise, as the finest scale was trained with. They do not back-project; nor does SinGAN
here by default (``back_projection`` 0 for engines that learn).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from ..engines import Problem, Source
from ..errors import InputError
from ..image import ImageLike, check_pixel_limit, read_image
from ..params import check_count, is_real, sample_seed
from ..progress import ProgressLike, as_progress
from ..pyramid import resize
from ..result import Result
from .common import (
    at_size,
    check_levels,
    input_record,
    make_result,
    prepare_model,
    run_samples,
    task_plan,
)

__all__ = [
    "BACK_PROJECTION",
    "MAX_BACK_PROJECTION",
    "add_superres_command",
    "back_project",
    "superres",
    "superres_sizes",
]

#: Back-projection iterations after every step: 3 gives all but 0.02 dB of what 10 give on
#: the development images (28.27 against 28.29 dB on Set5 and three Set14 images).
BACK_PROJECTION = 3

#: Most back-projection iterations per step: far beyond convergence.
MAX_BACK_PROJECTION = 1000


def superres_sizes(size: Sequence[int], factor: float, ratio: float) -> list[tuple[int, int]]:
    """The (height, width) after each step of an upscale of ``size`` by ``factor``.

    The number of steps is the integer nearest to ``log(factor) / log(1 / ratio)`` (at
    least one), all by the same factor ``factor ** (1 / steps)``, the last exactly
    ``round(factor * size)`` (6 steps of 1.26 for x4 at r = 0.8).

    Examples
    --------
    >>> superres_sizes((100, 80), 4, 0.8)
    [(126, 101), (159, 127), (200, 160), (252, 202), (317, 254), (400, 320)]
    >>> superres_sizes((10, 10), 1.1, 0.8)
    [(11, 11)]
    """
    steps = max(1, round(math.log(factor) / -math.log(ratio)))
    step = factor ** (1.0 / steps)
    sizes = [tuple(round(v * step**k) for v in size) for k in range(1, steps)]
    return [*sizes, tuple(round(v * factor) for v in size)]


def back_project(y: torch.Tensor, x: torch.Tensor, iterations: int) -> torch.Tensor:
    """Iterative back-projection (Irani and Peleg, 1991): correct ``y`` until, downscaled to
    the size of ``x`` (the same antialiased bicubic that made the low-resolution image),
    it gives ``x`` back: ``y += upscale(x - downscale(y))``, ``iterations`` times.

    Examples
    --------
    >>> x = torch.rand(3, 8, 8)
    >>> y = back_project(torch.rand(3, 16, 16), x, 50)
    >>> float((resize(y, (8, 8)) - x).abs().max()) < 1e-3
    True
    """
    size, small = tuple(y.shape[-2:]), tuple(x.shape[-2:])
    for _ in range(iterations):
        y = y + resize(x - resize(y, small), size)
    return y


def superres(
    image: ImageLike,
    factor: float = 4.0,
    *,
    back_projection: int | None = None,
    levels: int | None = None,
    engine: str = "gpnn",
    model: object = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: ProgressLike = False,
    **params: object,
) -> Result:
    """Upscale ``image`` by ``factor`` with detail from its own patches (internal
    example-based super-resolution; see the module notes).

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor
        The low-resolution image.
    factor : float
        Upscaling factor, above 1; the output is ``round(factor * size)``. Default 4.
    back_projection : int, optional
        Back-projection iterations after every step (0: none). Default 3, or 0 for engines
        that learn (SinGAN's authors do not back-project).
    levels : int, optional
        Not settable: every step is a two-level problem. Accepted as None or 1 only (what the
        metadata records), so that an output can be made again from it.
    engine : str
        A registered engine that does super-resolution (GPNN by default; ``"singan"``
        trains a SinGAN on the image, see the module notes); ``**params`` are its
        parameters.
    model : model or folder, optional
        A model of ``image`` trained before (:func:`dropgan.train`, ideally with the
        super-resolution parameters, :data:`~dropgan.engines.singan.params.SR_DEFAULTS`),
        used instead of training.
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    seed : int
        Seed of any randomised search.
    progress : bool or callable
        A bar on stderr, or a callable receiving :class:`~dropgan.progress.ProgressEvent`;
        an exception it raises cancels the run.
    **params
        The engine's parameters. GPNN's defaults for this task (measured, see
        ``docs/restoration.md``): ``ratio`` 0.8 (steps of about 1.25), ``patch_size`` 5,
        ``iters`` 1 (more steps match the sharpened output against blurry keys and lose
        0.6 dB), ``coarsest_iters`` 0 and ``keys="blurred"`` (the method itself), ``alpha``
        inf. SinGAN's: ``schedule`` fast and the authors' SR training (module notes).

    Returns
    -------
    Result
        One image ``(3, round(factor H), round(factor W))`` with values in [0, 1], and its
        metadata.

    Examples
    --------
    >>> x = torch.rand(3, 16, 20)
    >>> tuple(superres(x, 2, nn="exact").image.shape)
    (3, 32, 40)
    """
    root = as_progress(progress)
    if not (is_real(factor) and 1 < factor < math.inf):
        raise InputError(f"the super-resolution factor must be a number above 1, got {factor!r}")
    if levels not in (None, 1):
        raise InputError("super-resolution runs two-level steps; its depth cannot be set")
    plan, trained, model_inputs = task_plan("superres", engine, params, device, model=model)
    if back_projection is None:
        back_projection = 0 if plan.learns else BACK_PROJECTION
    back_projection = check_count("back_projection", back_projection, 0, MAX_BACK_PROJECTION)
    x = read_image(image).to(plan.device)
    size = tuple(x.shape[-2:])
    sizes = superres_sizes(size, factor, plan.params.ratio)
    check_pixel_limit(*sizes[-1], "output")
    # the smallest source is the input downscaled by the first step: it must hold patches
    first = _low_size(size, sizes[0])
    check_levels(size, [size, first], plan.patch_size, "image")
    # a step's time grows with its output's pixels
    shares = [h * w / sum(a * b for a, b in sizes) for h, w in sizes]
    if plan.learns:  # one model of the image, trained on it (its own pyramid) or given
        depth = plan.depth([size], size, lambda r, p: 1)
        trained = prepare_model(plan, plan.problem([x], size, depth), seed, root, trained)

    def one(seed: int, progress) -> torch.Tensor:
        y = x
        for k, (out, share) in enumerate(zip(sizes, shares, strict=True)):
            part = progress.part(share, f"step {k + 1}/{len(sizes)}")
            # each step draws its own noise: the sample's seed and the step's index
            step_seed = sample_seed(seed, k) if trained is not None else seed
            y = _step(plan, x, y, out, step_seed, part, trained)
            y = back_project(y, x, back_projection)
        return y.clamp(0.0, 1.0)

    images, own = run_samples(1, seed, 0, root, one)
    return make_result(
        plan,
        images,
        own,
        root,
        seed=seed,
        depth=1,
        inputs=[input_record(image, x, "image"), *model_inputs],
        options={"factor": float(factor), "back_projection": back_projection},
    )


def _low_size(size: Sequence[int], out: Sequence[int]) -> tuple[int, int]:
    """``size`` downscaled by the step from ``size`` to ``out``, per axis."""
    return tuple(max(1, round(c * c / t)) for c, t in zip(size, out, strict=True))


def _step(
    plan,
    x: torch.Tensor,
    y: torch.Tensor,
    out: tuple[int, int],
    seed: int,
    progress,
    model: object = None,
) -> torch.Tensor:
    """One step: ``y`` upscaled to ``out`` by the engine.

    Without a model, from ``y``'s own patches: the problem is built here, not by
    :meth:`~dropgan.tasks.common.Plan.problem`, because its levels must have exactly these
    sizes (the current image and the target), where the plan's pyramid rule would round
    them by the ratio and blur the kept initial guess by a sub-pixel resize. With a model
    of the low-resolution image ``x``, the source is ``x`` (so that ``out`` is read
    relative to it) and ``y`` is the injected image."""
    size = tuple(y.shape[-2:])
    if model is not None:
        problem = Problem((Source([x]),), (out,), initial=y)
        return at_size(plan.run(problem, seed, progress, model), out)
    source = Source([y, resize(y, _low_size(size, out))])
    return plan.run(Problem((source,), (out, size), initial=y), seed, progress)


def add_superres_command(sub: argparse._SubParsersAction) -> None:
    """The ``dropgan superres`` subcommand (wired into :func:`dropgan.cli.build_parser`)."""
    from ..cli import _api_kwargs, _engine_options, _image_command, _number, _run_options
    from .common import add_model_option

    def run(args: argparse.Namespace, **call: object) -> Result:
        kw = {**_api_kwargs(args), **call}
        bp = args.back_projection
        return superres(args.input, args.factor, back_projection=bp, model=args.model, **kw)

    def names(args: argparse.Namespace) -> list[str]:
        return [f"{Path(args.input).stem}_x{args.factor:g}.png"]

    p = sub.add_parser(
        "superres",
        parents=[_engine_options("superres"), _run_options()],
        help="upscale an image with detail from its own patches",
        description="Super-resolution: upscale INPUT by --factor in steps of about 1/RATIO "
        "(1.25 by default), each copying sharp patches of the image itself into the blurry "
        "upscaled image, then back-projecting onto INPUT.",
        epilog="Defaults for this task: gpnn: --patch-size 5 --ratio 0.8 --iters 1 "
        "--coarsest-iters 0 --keys blurred; singan: --schedule fast --scale-factor 0.794 "
        "--min-size 18 --rec-weight 100 --spacing geometric --start-scale -1. "
        "--levels: not settable (two levels per step).",
    )
    p.add_argument("input", help="low-resolution image")
    p.add_argument("--factor", type=_number, default=4.0, help="upscaling factor (default: 4)")
    p.add_argument(
        "--back-projection",
        type=int,
        help=f"back-projection iterations after every step (default: {BACK_PROJECTION}; "
        "0 with engines that learn)",
    )
    add_model_option(p, "INPUT")
    p.set_defaults(run=_image_command(run, names))
