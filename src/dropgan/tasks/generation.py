"""Random generation: new images with the patch distribution of one source, at any size."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..engines.gpnn import Source, synthesize
from ..errors import InputError
from ..image import ImageLike, read_image
from ..pyramid import depth_for_generation, pyramid
from .common import (
    check_engine,
    check_levels,
    gpdm_options,
    resolve_device,
    search_backend,
    split_params,
)

__all__ = ["generate", "output_size"]


def output_size(
    source_size: Sequence[int],
    size: Sequence[int] | None = None,
    scale: float | Sequence[float] | None = None,
) -> tuple[int, int]:
    """The (height, width) of the output: ``size`` if given, else the source's times ``scale``.

    Examples
    --------
    >>> output_size((100, 200), scale=(1.0, 1.5))
    (100, 300)
    """
    if size is not None and scale is not None:
        raise InputError("give an output size or a scale, not both")
    if size is not None:
        h, w = (int(v) for v in size)
    elif scale is not None:
        sy, sx = (scale, scale) if isinstance(scale, (int, float)) else scale
        if not (sy > 0 and sx > 0):
            raise InputError(f"scale factors must be positive, got {scale}")
        h, w = round(source_size[0] * sy), round(source_size[1] * sx)
    else:
        h, w = source_size
    if h < 1 or w < 1:
        raise InputError(f"output size must be positive, got {w}x{h}")
    return h, w


def generate(
    image: ImageLike,
    n: int = 1,
    *,
    seed: int = 0,
    size: Sequence[int] | None = None,
    scale: float | Sequence[float] | None = None,
    sigma: float = 0.75,
    engine: str = "gpnn",
    levels: int | None = None,
    nn: str | None = None,
    device: str | torch.device | None = None,
    memory_budget: int | None = None,
    progress: bool = False,
    **params: object,
) -> list[torch.Tensor]:
    """Random samples with the patch distribution of ``image`` (GPNN generation).

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor
        The source image.
    n : int
        Number of samples.
    seed : int
        Seed of the noise and of any randomised search; the same seed, ``n`` and settings
        give the same pixels.
    size : (height, width), optional
        Output size; by default the source's (SinGAN's arbitrary-size samples otherwise).
    scale : float or (sy, sx), optional
        Output size as a multiple of the source's, instead of ``size``.
    sigma : float
        Standard deviation of the Gaussian noise added to the coarsest source level, per
        pixel and channel, on [0, 1] values: the diversity knob. Default 0.75.
    engine : {"gpnn", "gpdm"}
        ``"gpdm"`` synthesises by patch-distribution matching instead
        (:func:`~dropgan.engines.gpdm.gpdm`; ``**params`` are then its parameters and
        ``sigma`` the noise of its initial guess).
    levels : int, optional
        Number of downscalings N; by default the coarsest level's smaller side is at most
        two patches or its longer side at most 2.75 patches, whichever comes first (9
        levels for a 250 px wide image, as the authors';
        :func:`~dropgan.pyramid.depth_for_generation`).
    nn : str, optional
        Search backend: ``"exact"``, or the default for the device.
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    memory_budget : int, optional
        Bytes for the exact search's distance tiles (default 1 GiB).
    progress : bool
        Show a progress bar on stderr.
    **params
        GPNN parameters (:class:`~dropgan.engines.gpnn.GPNNParams`): ``patch_size``,
        ``ratio``, ``alpha``, ``iters``, ``coarsest_iters``, ``blend_sigma``.

    Returns
    -------
    list of Tensor
        ``n`` images, each ``(3, H, W)`` with values in [0, 1].

    Examples
    --------
    >>> import dropgan
    >>> x = torch.rand(3, 24, 32)
    >>> [tuple(y.shape) for y in dropgan.generate(x, n=2, iters=2, nn="exact")]
    [(3, 24, 32), (3, 24, 32)]
    """
    if not isinstance(n, int) or n < 1:
        raise InputError(f"number of samples must be at least 1, got {n}")
    if not sigma >= 0:
        raise InputError(f"sigma must be >= 0, got {sigma}")
    check_engine(engine)
    if engine == "gpdm":
        from ..engines.gpdm import gpdm

        options = gpdm_options(params, nn, levels)
        x = read_image(image).to(resolve_device(device))
        out = output_size(tuple(x.shape[-2:]), size, scale)
        gen = torch.Generator().manual_seed(seed)
        y = gpdm(x, out, n, sigma=sigma, generator=gen, progress=progress, **options)
        return list(y.cpu())
    gp = split_params(params)
    dev = resolve_device(device)
    x = read_image(image).to(dev)
    src_size = tuple(x.shape[-2:])
    if min(src_size) < 2 * gp.patch_size:
        raise InputError(
            f"image of {src_size[1]}x{src_size[0]} px is too small: its sides "
            f"must be at least twice the patch size ({2 * gp.patch_size} px)"
        )
    out = output_size(src_size, size, scale)
    depth = depth_for_generation(src_size, gp.ratio, gp.patch_size) if levels is None else levels
    src_sizes = check_levels(src_size, gp.ratio, depth, gp.patch_size, "image")
    out_sizes = check_levels(out, gp.ratio, depth, gp.patch_size, "output")
    levels_ = pyramid(x, src_sizes)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn((n, *levels_[-1].shape), generator=gen).to(dev)
    initial = levels_[-1][None] + sigma * noise
    search = search_backend(nn, dev, seed, memory_budget)
    y = synthesize([Source(levels_)], initial, out_sizes, gp, search, progress)
    return list(y.cpu())
