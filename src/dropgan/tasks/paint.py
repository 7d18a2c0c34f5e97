"""Paint-to-image: a rough painting (flat blobs of colour) turned into a realistic image with
the textures of a source image (SinGAN, Shaham et al. 2019, §4 "Paint-to-Image"; here as a
structural analogy with patch nearest neighbours, GPNN paper §4).

SinGAN injects the painting, downscaled, at a chosen scale of a model trained on the source
and lets the finer generators add the detail. With GPNN it is the structural analogy
(:mod:`dropgan.tasks.analogy`): the initial guess is the painting downscaled by r^N, which
sets where everything goes; every level is rebuilt from the source's patches, with a small
alpha so that the source's elements (the cows, the trees) appear rather than only its most
common patches (the grass), then refined by a second pass from the output. The output has
the painting's size (SinGAN resizes the painting to the source's size, as its generators
need; GPNN does not).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..image import ImageLike
from ..progress import ProgressLike
from ..result import Result
from .analogy import structural_analogy

__all__ = ["add_paint2image_command", "paint2image"]


def paint2image(
    source: ImageLike,
    paint: ImageLike,
    *,
    refine: bool = True,
    levels: int | None = None,
    engine: str = "gpnn",
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
    refine : bool
        Run the refinement pass (the output fed back as the initial guess). Default True.
    levels : int, optional
        Number of downscalings N, SinGAN's injection scale counted from the finest: more
        levels keep less of the painting's layout and more of the source's. By default the
        smaller side of the smaller image is about eight patches at the coarsest level
        (:func:`~dropgan.tasks.analogy.analogy_depth`; 4 levels for SinGAN's examples).
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
        The engine's parameters. GPNN's defaults for this task: those of structural
        analogy, ``alpha`` 5e-3 (paper and authors' code), the others as for generation.

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
    )


def add_paint2image_command(sub: argparse._SubParsersAction) -> None:
    """The ``dropgan paint2image`` subcommand (wired into :func:`dropgan.cli.build_parser`)."""
    from ..cli import _api_kwargs, _engine_options, _image_command, _run_options, _task_epilog

    def run(args: argparse.Namespace, **call: object) -> Result:
        kw = {**_api_kwargs(args), **call}
        return paint2image(args.source, args.paint, refine=args.refine, **kw)

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
        help="skip the refinement pass (the output fed back as the initial guess)",
    )
    stem = lambda a: [f"{Path(a.source).stem}_{Path(a.paint).stem}_paint.png"]  # noqa: E731
    p.set_defaults(run=_image_command(run, stem))
