"""Random generation: new images with the patch distribution of one source, at any size."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import torch

from ..engines import Problem
from ..errors import InputError
from ..image import ImageLike, check_pixel_limit, read_image
from ..params import check_seed, is_real
from ..progress import Progress, ProgressLike, as_progress
from ..pyramid import depth_for_generation
from ..result import Result
from .common import (
    check_sigma,
    input_record,
    make_plan,
    make_result,
    model_plan,
    run_samples,
    size_text,
)

__all__ = ["generate", "output_size"]


def output_size(
    source_size: Sequence[int],
    size: Sequence[int] | None = None,
    scale: float | Sequence[float] | None = None,
) -> tuple[int, int]:
    """The (height, width) of the output: ``size`` if given, else the source's times ``scale``;
    checked against the pixel limit (:func:`~dropgan.image.pixel_limit`).

    Examples
    --------
    >>> output_size((100, 200), scale=(1.0, 1.5))
    (100, 300)
    """
    if size is not None and scale is not None:
        raise InputError("give an output size or a scale, not both")
    if size is not None:
        if (
            isinstance(size, str)
            or len(size) != 2
            or not all(isinstance(v, (int, float)) or hasattr(v, "__index__") for v in size)
        ):
            raise InputError(f"size must be (height, width), got {size!r}")
        h, w = (int(v) for v in size)
    elif scale is not None:
        sy, sx = (scale, scale) if is_real(scale) else tuple(scale)
        if not (is_real(sy) and is_real(sx) and 0 < sy < math.inf and 0 < sx < math.inf):
            raise InputError(f"scale factors must be positive and finite, got {scale!r}")
        h, w = round(source_size[0] * sy), round(source_size[1] * sx)
    else:
        h, w = source_size
    if h < 1 or w < 1:
        raise InputError(f"output size must be positive, got {w}x{h}")
    check_pixel_limit(h, w, "output")
    return h, w


def _generation_depth(
    source: Sequence[int], out: Sequence[int], ratio: float, patch_size: int
) -> int:
    """The generation rule for the source, or for the output where that is shallower (a
    smaller output must still hold patches at the coarsest level)."""
    return min(
        depth_for_generation(source, ratio, patch_size),
        depth_for_generation(out, ratio, patch_size),
    )


def generate(
    image: ImageLike | None = None,
    n: int = 1,
    *,
    seed: int = 0,
    start: int = 0,
    size: Sequence[int] | None = None,
    scale: float | Sequence[float] | None = None,
    sigma: float = 0.75,
    engine: str = "gpnn",
    model: object = None,
    levels: int | None = None,
    device: str | torch.device | None = None,
    progress: ProgressLike = False,
    **params: object,
) -> Result:
    """Random samples with the patch distribution of ``image``.

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor
        The source image (not with ``model``).
    n : int
        Number of samples.
    seed : int
        Seed of the run; sample ``i`` uses a seed derived from it and ``i`` alone
        (:func:`~dropgan.params.sample_seed`), so it is the same whatever ``n``. Engines that
        learn train their model with ``seed`` itself.
    start : int
        Index of the first sample: ``start=4, n=2`` makes samples 4 and 5 of the run.
    size : (height, width), optional
        Output size; by default the source's (or the model's).
    scale : float or (sy, sx), optional
        Output size as a multiple of the source's (or the model's), instead of ``size``.
    sigma : float
        Standard deviation of the Gaussian noise added at the coarsest level, per pixel and
        channel, on [0, 1] values: the diversity knob (paper: 0.75). Every engine that starts
        from a guess adds it to its start: GPNN's is the source's coarsest level, GPDM's
        mid-grey; SinGAN draws its own noise.
    engine : str
        A registered engine (:data:`dropgan.engines.ENGINES`): ``"gpnn"`` (default),
        ``"gpdm"``, ``"singan"``; ``**params`` are its parameters.
    model : model or folder, optional
        A model trained before (:func:`dropgan.train`): samples without training, by
        ``engine`` if it learns, else by the first registered engine that does (SinGAN).
        ``**params`` may then only change how it samples (SinGAN: ``start_scale``).
    levels : int, optional
        Number of downscalings N; by default the engine's rule for generation (GPNN: the
        coarsest level's smaller side at most two patches or its longer side at most 2.75
        patches, 9 levels for a 250 px wide image as the authors';
        :func:`~dropgan.pyramid.depth_for_generation`).
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    progress : bool or callable
        ``True`` for a bar on stderr, or a callable that receives every
        :class:`~dropgan.progress.ProgressEvent`; an exception it raises cancels the run.
    **params
        The engine's parameters (GPNN: :class:`~dropgan.engines.gpnn.GPNNParams`,
        ``patch_size``, ``ratio``, ``alpha``, ``iters``, ``coarsest_iters``, ``recipe``, ``keys``,
        ``blend_sigma``, ``nn``, ``memory_budget``; GPDM:
        :class:`~dropgan.engines.gpdm.GPDMParams`; SinGAN:
        :class:`~dropgan.engines.singan.SinGANParams`).

    Returns
    -------
    Result
        ``n`` images, each ``(3, H, W)`` with values in [0, 1], and their metadata.

    Examples
    --------
    >>> import dropgan
    >>> x = torch.rand(3, 24, 32)
    >>> [tuple(y.shape) for y in dropgan.generate(x, n=2, iters=2, nn="exact")]
    [(3, 24, 32), (3, 24, 32)]
    """
    root = as_progress(progress)
    sigma = check_sigma(sigma)
    seed = check_seed(seed)
    if model is not None:
        return _from_model(model, n, seed, start, size, scale, engine, device, root, params)
    if image is None:
        raise InputError("give a source image (or a trained model)")
    plan = make_plan("generate", engine, params, device, levels)
    x = read_image(image)
    src_size = tuple(x.shape[-2:])
    out = output_size(src_size, size, scale)
    depth = plan.depth([src_size], out, lambda r, p: _generation_depth(src_size, out, r, p))
    problem = plan.problem([x.to(plan.device)], out, depth)
    trained = plan.fit(problem, seed, root.part(0.9, "training")) if plan.learns else None

    def one(seed: int, progress) -> torch.Tensor:
        noise = plan.noise(problem.out_sizes[-1], sigma, seed)
        return plan.run(replace(problem, noise=noise), seed, progress, trained)

    images, own = run_samples(n, seed, start, root, one)
    return make_result(
        plan,
        images,
        own,
        root,
        seed=seed,
        depth=depth,
        inputs=[input_record(image, x, "image")],
        options={"size": size_text(out), "sigma": sigma},
    )


def _from_model(
    model: object,
    n: int,
    seed: int,
    start: int,
    size: Sequence[int] | None,
    scale: float | Sequence[float] | None,
    engine: str,
    device: str | torch.device | None,
    root: Progress,
    options: dict[str, object],
) -> Result:
    """Samples of a model trained before: no training, no source image."""
    plan, model, record = model_plan("generate", engine, model, options, device)
    out = output_size(plan.engine.model_size(model), size, scale)
    problem = Problem((), (out,))
    images, own = run_samples(
        n, seed, start, root, lambda s, part: plan.run(problem, s, part, model)
    )
    return make_result(
        plan,
        images,
        own,
        root,
        seed=seed,
        depth=0,
        inputs=[record],
        options={"size": size_text(out)},
    )
