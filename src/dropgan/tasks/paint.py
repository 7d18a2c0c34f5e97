"""Paint-to-image: a rough painting (flat blobs of colour) turned into a realistic image with
the textures of a source image (SinGAN, Shaham et al. 2019, §4 "Paint-to-Image"; here as a
structural analogy with patch nearest neighbours, GPNN paper §4).

SinGAN injects the painting, downscaled, at a chosen scale of a model trained on the source
and lets the finer generators add the detail. With GPNN it is the structural analogy
(:mod:`dropgan.tasks.analogy`): the initial guess is the painting downscaled by r^N, which
sets where everything goes; every level is rebuilt from the source's patches, with a small
alpha so that the source's elements (the cows, the trees) appear rather than only its most
common patches (the grass), then refined by a second pass from the output. The output has
the painting's size.

With SinGAN (``engine="singan"``), as its authors' ``paint2image.py`` (tamarott/SinGAN): a
model is trained on the source (``fast`` schedule unless told otherwise, or a model trained
before is given as ``model``) and the painting is injected at ``start_scale`` (default 1,
"the coarsest injection scale equals 1" in their README; their script requires it) as
``in_s`` of their ``SinGAN_generate`` (:mod:`dropgan.engines.singan.sample`); no
refinement pass. With ``quantize`` the painting is first reduced to the source's five
main colours, as their ``quant`` and ``quant2centers`` (``SinGAN/functions.py``): k-means
with 5 centres on the source's pixels, then k-means on the painting's pixels started from
those centres, and each painting pixel takes the source centre its cluster started from
(:func:`quantize_colors`). What differs: their ``quantization_flag`` also re-trains the
injection scale on quantised images (``train_paint``), which is not done here; they
quantise the source at the injection scale's resolution, here at its own; and they resize
the painting to the source's size, while SinGAN samples any size, so the output has the
painting's size with either engine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..image import ImageLike
from ..progress import ProgressLike
from ..result import Result
from .analogy import structural_analogy

__all__ = ["QUANT_COLORS", "add_paint2image_command", "kmeans", "paint2image", "quantize_colors"]

#: Number of colours of the quantisation: the authors' ``KMeans(n_clusters=5)``.
QUANT_COLORS = 5

#: Most Lloyd iterations of :func:`kmeans` (scikit-learn's default ``max_iter``).
KMEANS_ITERS = 300


def kmeans(
    points: torch.Tensor,
    k: int,
    *,
    init: torch.Tensor | None = None,
    seed: int = 0,
    iters: int = KMEANS_ITERS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means of ``points`` ``(N, D)``: the ``(k, D)`` centres and each point's
    label. Started from ``init``, else from k-means++ seeds drawn with ``seed`` (one start:
    the same centres for the same points and seed); stops when no label changes. A centre
    that loses all its points stays where it was.

    Examples
    --------
    >>> pts = torch.tensor([[0.0], [0.1], [1.0], [1.1]])
    >>> centres, labels = kmeans(pts, 2)
    >>> sorted(round(float(c), 2) for c in centres), labels[0] == labels[1] != labels[2]
    ([0.05, 1.05], tensor(True))
    """
    points = points.float()
    if init is None:
        gen = torch.Generator().manual_seed(seed)
        first = int(torch.randint(len(points), (1,), generator=gen))
        centres = points[first : first + 1]
        for _ in range(1, k):
            d2 = torch.cdist(points, centres).amin(dim=1) ** 2
            if float(d2.sum()) == 0:  # fewer distinct points than centres
                pick = int(torch.randint(len(points), (1,), generator=gen))
            else:
                pick = int(torch.multinomial(d2 / d2.sum(), 1, generator=gen))
            centres = torch.cat([centres, points[pick : pick + 1]])
    else:
        centres = init.float().clone()
    labels = torch.cdist(points, centres).argmin(dim=1)
    for _ in range(iters):
        counts = torch.bincount(labels, minlength=len(centres)).float()
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
        new = torch.cdist(points, centres).argmin(dim=1)
        if torch.equal(new, labels):
            break
        labels = new
    return centres, labels


def quantize_colors(
    paint: torch.Tensor, source: torch.Tensor, colors: int = QUANT_COLORS
) -> torch.Tensor:
    """``paint`` ``(3, H, W)`` with every pixel set to one of the ``colors`` main colours
    of ``source``, as the SinGAN authors' ``quant`` and ``quant2centers``: the source's
    pixels are clustered (k-means++, fixed seed, as their ``random_state=0``), the
    painting's pixels are clustered starting from those centres, and each painting pixel
    takes the source centre that its cluster started from.

    Examples
    --------
    >>> src = torch.zeros(3, 8, 8); src[0, :, 4:] = 1.0
    >>> out = quantize_colors(torch.full((3, 4, 4), 0.8), src, colors=2)
    >>> out[:, 0, 0].tolist()
    [1.0, 0.0, 0.0]
    """
    centres, _ = kmeans(source.reshape(3, -1).T.cpu(), colors)
    _, labels = kmeans(paint.reshape(3, -1).T.cpu(), colors, init=centres)
    return centres[labels].T.reshape(paint.shape).to(paint.device, paint.dtype)


def paint2image(
    source: ImageLike,
    paint: ImageLike,
    *,
    refine: bool | None = None,
    quantize: bool = False,
    levels: int | None = None,
    engine: str = "gpnn",
    model: object = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: ProgressLike = False,
    **params: object,
) -> Result:
    """An image with the textures of ``source`` laid out as ``paint`` says.

    Parameters
    ----------
    source : path, PIL.Image, ndarray or Tensor
        The image whose patches (textures, objects) the output has.
    paint : path, PIL.Image, ndarray or Tensor
        The painting: where each colour goes; the output has its size.
    refine : bool, optional
        Run the refinement pass (the output fed back as the initial guess). Default: for
        engines that do not learn (GPNN), not for SinGAN (its authors inject once).
    quantize : bool
        Reduce the painting to the source's five main colours first
        (:func:`quantize_colors`, the SinGAN authors' ``quantization_flag``). Default False.
    levels : int, optional
        Number of downscalings N, SinGAN's injection scale counted from the finest: more
        levels keep less of the painting's layout and more of the source's. By default the
        smaller side of the smaller image is about eight patches at the coarsest level
        (:func:`~dropgan.tasks.analogy.analogy_depth`; 4 levels for SinGAN's examples).
    engine : str
        A registered engine that does this task (GPNN by default; ``"singan"`` trains a
        SinGAN on the source and injects the painting, see the module notes); ``**params``
        are its parameters.
    model : model or folder, optional
        A model of ``source`` trained before (:func:`dropgan.train`), used instead of
        training (by ``engine`` if it learns, else by SinGAN); ``**params`` may then only
        change how it samples (SinGAN: ``start_scale``, the injection scale).
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    seed : int
        Seed of any randomised search.
    progress : bool or callable
        A bar on stderr, or a callable receiving :class:`~dropgan.progress.ProgressEvent`;
        an exception it raises cancels the run.
    **params
        The engine's parameters. GPNN's defaults for this task: those of structural
        analogy, ``alpha`` 5e-3 (paper and authors' code), the others as for generation.
        SinGAN's: ``schedule`` fast, ``start_scale`` 1.

    Returns
    -------
    Result
        One image ``(3, H, W)`` with values in [0, 1], of the painting's size, and its
        metadata.

    Examples
    --------
    >>> src, paint = torch.rand(3, 24, 32), torch.rand(3, 20, 28)
    >>> tuple(paint2image(src, paint, levels=1, iters=1, nn="exact").image.shape)
    (3, 20, 28)
    """
    return structural_analogy(
        "paint2image",
        (source, "source"),
        (paint, "paint"),
        refine=refine,
        engine=engine,
        levels=levels,
        device=device,
        seed=seed,
        progress=progress,
        params=params,
        structure_label="painting",
        model=model,
        prepare=quantize_colors if quantize else None,
        # recorded when used only, so that earlier outputs' metadata stays as it was
        options={"quantize": True} if quantize else None,
    )


def add_paint2image_command(sub: argparse._SubParsersAction) -> None:
    """The ``dropgan paint2image`` subcommand (wired into :func:`dropgan.cli.build_parser`)."""
    from ..cli import _api_kwargs, _engine_options, _image_command, _run_options, _task_epilog
    from .common import add_model_option

    def run(args: argparse.Namespace, **call: object) -> Result:
        kw = {**_api_kwargs(args), **call}
        return paint2image(
            args.source,
            args.paint,
            refine=args.refine,
            quantize=args.quantize,
            model=args.model,
            **kw,
        )

    p = sub.add_parser(
        "paint2image",
        parents=[_engine_options("paint2image"), _run_options()],
        help="turn a rough painting into an image with the textures of a source image",
        description="Paint-to-image: an image laid out like --paint (flat colour blobs) "
        "with the patches of --source; the output has the painting's size.",
        epilog=_task_epilog("paint2image", "the smaller image's smaller side about 8 patches"),
    )
    p.add_argument("--source", required=True, help="image whose textures the output has")
    p.add_argument("--paint", required=True, help="the painting: where each colour goes")
    p.add_argument(
        "--no-refine",
        dest="refine",
        action="store_false",
        default=None,
        help="skip the refinement pass (the output fed back as the initial guess; "
        "default: run it with engines that do not learn)",
    )
    p.add_argument(
        "--quantize",
        action="store_true",
        help="reduce the painting to the source's 5 main colours first (SinGAN's quantization)",
    )
    add_model_option(p, "--source")
    stem = lambda a: [f"{Path(a.source).stem}_{Path(a.paint).stem}_paint.png"]  # noqa: E731
    p.set_defaults(run=_image_command(run, stem))
