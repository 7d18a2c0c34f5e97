"""Denoising from the image's own patches: downscaled, a noisy image is nearly clean (averaging
pixels averages the noise away) while its small patterns recur at the coarser scale (Zontak,
Mosseri and Irani, "Separating Signal from Noise Using Patch Recurrence Across Scales", CVPR
2013). So each noisy patch is replaced by its nearest patch of a downscaled copy, and the
overlapping copies are averaged.

For the engine every copy is a one-level problem: the source is the image downscaled by a
factor s, the output has the image's size, and the initial guess is the noisy image itself,
whose patches are the queries of one PNN step. The outputs for three factors s0, 1.25 s0,
1.5 s0 are averaged (each copy errs differently). The stronger the noise, the smaller the
copies: ``s0 = 0.5 (sigma / (10/255)) ^ -0.45`` within [0.2, 0.5] (0.5 at sigma = 10/255,
0.33 at 25/255, 0.24 at 50/255: the best single factor measured at each level, see
``docs/restoration.md``). Without ``sigma`` the noise level is estimated (Immerkaer, "Fast
Noise Variance Estimation", 1996).

With SinGAN (``engine="singan"``), the recipe of the study in
``../shared/papers/singan-study-sr-denoising.txt`` (§4, its authors' own experiments; the
SinGAN authors' code has no denoising): a model is trained on the noisy image (``fast``
schedule unless told otherwise, or a model trained before is given as ``model``) and the
noisy image is injected once at a middle scale (``start_scale``, default 3 of the fast
schedule's 6: the study found the fifth of its nine scales best, and scales 4, 6 and 7
good, by PSNR); the finer generators redraw it from the patch statistics they learnt,
which the noise is mostly finer than. The study reports that it removes Gaussian noise
only partly and salt-and-pepper noise not at all. ``sigma`` and ``scales`` do not apply.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..image import ImageLike, read_image
from ..params import is_int, is_real
from ..progress import Progress, ProgressLike, as_progress
from ..pyramid import resize
from ..result import Result
from .common import (
    Plan,
    at_size,
    check_levels,
    input_record,
    make_result,
    prepare_model,
    run_samples,
    task_plan,
)

__all__ = [
    "COPY_STEPS",
    "add_denoise_command",
    "copy_scales",
    "denoise",
    "estimate_sigma",
]

#: The downscaling factors of the averaged copies, as multiples of the first.
COPY_STEPS = (1.0, 1.25, 1.5)

#: The first copy's factor at noise 10/255, its exponent in sigma, and its bounds.
_SCALE_AT_10, _SCALE_POWER, _SCALE_BOUNDS = 0.5, 0.45, (0.2, 0.5)


def estimate_sigma(image: torch.Tensor) -> float:
    """Standard deviation of additive white Gaussian noise in ``image`` (``(3, H, W)``, [0, 1]),
    by Immerkaer's estimator: the mean absolute response to the Laplacian difference
    ``[[1, -2, 1], [-2, 4, -2], [1, -2, 1]]`` (which cancels smooth image content), times
    ``sqrt(pi / 2) / 6``; averaged over the channels. Texture counts as noise, so the
    estimate is high on clean, busy images.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.full((3, 64, 64), 0.5) + 0.1 * torch.randn(3, 64, 64, generator=g)
    >>> round(estimate_sigma(x), 2)
    0.1
    """
    k = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]], dtype=image.dtype)
    response = F.conv2d(image[:, None], k.to(image.device)[None, None])
    return float(response.abs().mean() * math.sqrt(math.pi / 2) / 6)


def copy_scales(sigma: float) -> tuple[float, ...]:
    """The downscaling factors of the copies for noise of standard deviation ``sigma`` (on
    [0, 1] values; see the module notes).

    Examples
    --------
    >>> [round(s, 2) for s in copy_scales(25 / 255)]
    [0.33, 0.41, 0.5]
    """
    lo, hi = _SCALE_BOUNDS
    first = _SCALE_AT_10 * (max(sigma, 1e-6) / (10 / 255)) ** -_SCALE_POWER
    first = min(max(first, lo), hi)
    return tuple(first * step for step in COPY_STEPS)


def _check_scales(scales: object) -> tuple[float, ...]:
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or not scales:
        raise InputError(f"scales must be a non-empty list of factors, got {scales!r}")
    if not all(is_real(s) and 0 < s < 1 for s in scales):
        raise InputError(f"every scale must be a factor between 0 and 1, got {list(scales)!r}")
    return tuple(float(s) for s in scales)


def denoise(
    image: ImageLike,
    *,
    sigma: float | None = None,
    scales: Sequence[float] | None = None,
    levels: int | None = None,
    engine: str = "gpnn",
    model: object = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: ProgressLike = False,
    **params: object,
) -> Result:
    """Remove additive noise from ``image`` with patches of its own downscaled copies, or
    with a SinGAN trained on it (see the module notes).

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor
        The noisy image.
    sigma : float, optional
        The noise's standard deviation on [0, 1] values (25/255 = 0.098 is "sigma 25");
        estimated from the image when not given (:func:`estimate_sigma`). It only chooses
        the copies' scales.
    scales : sequence of float, or int, optional
        Downscaling factors of the copies, each in (0, 1), instead of those ``sigma`` gives
        (:func:`copy_scales`); the outputs from every copy are averaged. An integer is the
        engine's ``scales`` parameter instead (SinGAN's number of scales, whose name this
        argument shadows; ``--scales`` on the command line).
    levels : int, optional
        Not settable: every copy is a one-level problem. Accepted as None or 0 only (what the
        metadata records), so that an output can be made again from it.
    engine : str
        A registered engine that denoises (GPNN by default; ``"singan"`` trains a SinGAN
        on the noisy image and injects it at a middle scale); ``**params`` are its
        parameters.
    model : model or folder, optional
        A model of ``image`` trained before (:func:`dropgan.train`), used instead of
        training; ``**params`` may then only change how it samples (SinGAN:
        ``start_scale``).
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    seed : int
        Seed of any randomised search.
    progress : bool or callable
        A bar on stderr, or a callable receiving :class:`~dropgan.progress.ProgressEvent`;
        an exception it raises cancels the run.
    **params
        The engine's parameters. GPNN's defaults for this task (measured, see
        ``docs/restoration.md``): ``patch_size`` 3 (0.7 dB better than 7 at sigma 25/255,
        and the smaller patches find more matches in the small copies), one PNN step
        (``coarsest_iters`` 1: more steps drift from the image, -1 dB), ``alpha`` inf.
        ``ratio`` is not used (the copies' factors are ``scales``). SinGAN's: ``schedule``
        fast, ``start_scale`` 3.

    Returns
    -------
    Result
        One image ``(3, H, W)`` with values in [0, 1], and its metadata (with the ``sigma``
        used, given or estimated, and the ``scales``).

    Examples
    --------
    >>> x = torch.rand(3, 40, 48)
    >>> tuple(denoise(x, sigma=0.1, nn="exact").image.shape)
    (3, 40, 48)
    """
    root = as_progress(progress)
    if levels not in (None, 0):
        raise InputError("denoising runs one-level problems; its depth cannot be set")
    if sigma is not None and not (is_real(sigma) and 0 <= sigma < math.inf):
        raise InputError(f"sigma must be a finite number >= 0, got {sigma!r}")
    if is_int(scales):  # the engine's parameter of the same name
        params, scales = {**params, "scales": scales}, None
    plan, trained, model_inputs = task_plan("denoise", engine, params, device, model=model)
    x = read_image(image).to(plan.device)
    size = tuple(x.shape[-2:])
    used = float(sigma) if sigma is not None else estimate_sigma(x)
    inputs = [input_record(image, x, "image"), *model_inputs]
    if plan.learns:
        return _learnt(plan, x, trained, seed, root, inputs, used)
    chosen = copy_scales(used) if scales is None else _check_scales(scales)
    copies = [tuple(max(1, round(v * s)) for v in size) for s in chosen]
    for copy in copies:
        check_levels(size, [copy], plan.patch_size, "image downscaled")

    def one(seed: int, progress) -> torch.Tensor:
        out = torch.zeros_like(x)
        for copy, part in zip(copies, progress.parts(len(copies), "copy"), strict=True):
            problem = plan.problem([resize(x, copy)], size, 0, initial=x)
            out += plan.run(problem, seed, part)
        return (out / len(copies)).clamp(0.0, 1.0)

    images, own = run_samples(1, seed, 0, root, one)
    return make_result(
        plan,
        images,
        own,
        root,
        seed=seed,
        depth=0,
        inputs=inputs,
        options={"sigma": used, "scales": list(chosen)},
    )


def _learnt(
    plan: Plan,
    x: torch.Tensor,
    model: object,
    seed: int,
    root: Progress,
    inputs: list[dict[str, str]],
    sigma: float,
) -> Result:
    """Denoising by an engine that learns: its model of the noisy image ``x`` (trained
    here unless given), with ``x`` itself as the problem's initial (injected) image."""
    size = tuple(x.shape[-2:])
    depth = plan.depth([size], size, lambda r, p: 0)
    problem = plan.problem([x], size, depth, initial=x)
    model = prepare_model(plan, problem, seed, root, model)

    def one(seed: int, progress) -> torch.Tensor:
        return at_size(plan.run(problem, seed, progress, model), size)

    images, own = run_samples(1, seed, 0, root, one)
    return make_result(
        plan, images, own, root, seed=seed, depth=depth, inputs=inputs, options={"sigma": sigma}
    )


def add_denoise_command(sub: argparse._SubParsersAction) -> None:
    """The ``dropgan denoise`` subcommand (wired into :func:`dropgan.cli.build_parser`)."""
    from ..cli import _api_kwargs, _engine_options, _image_command, _number, _run_options
    from .common import add_model_option

    def run(args: argparse.Namespace, **call: object) -> Result:
        return denoise(args.input, sigma=args.sigma, model=args.model, **_api_kwargs(args), **call)

    p = sub.add_parser(
        "denoise",
        parents=[_engine_options("denoise"), _run_options()],
        help="remove noise with patches of the image's own downscaled copies",
        description="Denoising: replace every patch of INPUT by its nearest patch of INPUT "
        "downscaled (where the noise is averaged away), for three downscalings, and average.",
        epilog="Defaults for this task: gpnn: --patch-size 3 --coarsest-iters 1; singan: "
        "--schedule fast --start-scale 3. "
        "--levels: not settable (one level per copy).",
    )
    p.add_argument("input", help="noisy image")
    p.add_argument(
        "--sigma",
        type=_number,
        help="noise standard deviation on [0, 1] values, e.g. 0.098 for 25/255 "
        "(default: estimated from the image)",
    )
    add_model_option(p, "INPUT")
    p.set_defaults(run=_image_command(run, lambda a: [f"{Path(a.input).stem}_denoised.png"]))
