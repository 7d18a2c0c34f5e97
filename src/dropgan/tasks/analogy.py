"""Structural analogy and sketch-to-image: the appearance of one image in the layout of
another (GPNN paper §4, "Image-to-image and Structural Analogies")."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..image import ImageLike, read_image
from ..progress import ProgressLike, as_progress
from ..pyramid import depth_for_coarsest
from ..result import Result
from .common import at_size, input_record, make_result, prepare_model, run_samples, task_plan

__all__ = ["COARSEST_PATCHES", "analogy", "analogy_depth"]

#: Smaller side of the coarsest level, in patches, of the default depth: the layout of B must
#: still be drawn with many patches there. Eight patches (56 px) give the authors' 5 levels
#: for their 196 to 220 px pairs.
COARSEST_PATCHES = 8


def analogy_depth(sizes: Sequence[Sequence[int]], ratio: float, patch_size: int) -> int:
    """Default depth: the smaller side of the smaller image is about
    :data:`COARSEST_PATCHES` patches at the coarsest level (at most that many).

    The paper changes the depth "according to the change in object sizes"; its authors' code
    uses 5 levels, which this rule reproduces for their image sizes. A fixed depth would
    shrink a small B to a few patches, and the output would then copy A's layout instead of
    following B's.

    Examples
    --------
    >>> analogy_depth([(220, 220), (220, 220)], 0.75, 7)
    5
    """
    short = min(min(s) for s in sizes)
    return depth_for_coarsest((short, short), ratio, COARSEST_PATCHES * patch_size)


def analogy(
    source: ImageLike,
    structure: ImageLike,
    *,
    refine: bool = True,
    levels: int | None = None,
    engine: str = "gpnn",
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: ProgressLike = False,
    **params: object,
) -> Result:
    """An image with the patches of ``source`` (A) laid out like ``structure`` (B).

    The initial guess is B downscaled by r^N, which sets where things are; GPNN fills it
    with A's patches. With ``refine``, the output, downscaled by r^N, is fed back as the
    initial guess of a second pass (the paper's refinement). A sketch as B gives
    sketch-to-image.

    Parameters
    ----------
    source : path, PIL.Image, ndarray or Tensor
        Image A, whose patches (appearance) the output has.
    structure : path, PIL.Image, ndarray or Tensor
        Image B, whose layout the output follows; the output has its size.
    refine : bool
        Run the refinement pass. Default True.
    levels : int, optional
        Number of downscalings N; by default the smaller side of the smaller image is about
        eight patches at the coarsest level (:func:`analogy_depth`; the authors' 5 levels for
        220 px images).
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
        The engine's parameters. GPNN's defaults for this task: ``alpha`` 5e-3 (paper and
        authors' code), so that the output shows as much of the source as possible; the
        others as for generation.

    Returns
    -------
    Result
        One image ``(3, H, W)`` with values in [0, 1], of B's size, and its metadata.

    Examples
    --------
    >>> import dropgan
    >>> a, b = torch.rand(3, 24, 32), torch.rand(3, 20, 28)
    >>> tuple(dropgan.analogy(a, b, levels=1, iters=1, nn="exact").image.shape)
    (3, 20, 28)
    """
    return structural_analogy(
        "analogy",
        (source, "source"),
        (structure, "structure"),
        refine=refine,
        engine=engine,
        levels=levels,
        device=device,
        seed=seed,
        progress=progress,
        params=params,
    )


def structural_analogy(
    task: str,
    source: tuple[ImageLike, str],
    structure: tuple[ImageLike, str],
    *,
    refine: bool | None,
    engine: str,
    levels: int | None,
    device: str | torch.device | None,
    seed: int,
    progress: ProgressLike,
    params: dict[str, object],
    structure_label: str = "structure image",
    model: object = None,
    prepare: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    options: dict[str, object] | None = None,
) -> Result:
    """The recipe that analogy and paint-to-image share: the ``source`` image's patches laid
    out like ``structure`` (each given with its role's name), with an optional refinement
    pass, for ``task``'s engine parameters; ``structure_label`` names the structure in
    errors.

    An engine that learns (SinGAN) trains on ``source`` once (or samples ``model``, one
    trained before) and gets ``structure`` as its injected image; ``refine`` is by default
    on for the others and off for it (the refinement pass is GPNN's paper's; SinGAN's
    authors inject once). ``prepare(structure, source)`` may change the structure first
    (paint-to-image's colour quantisation); ``options`` are added to the metadata's."""
    root = as_progress(progress)
    plan, trained, model_inputs = task_plan(task, engine, params, device, levels, model)
    if refine is None:
        refine = not plan.learns
    a = read_image(source[0], source[1]).to(plan.device)
    b = read_image(structure[0], structure[1]).to(plan.device)
    sizes = [tuple(a.shape[-2:]), tuple(b.shape[-2:])]
    out = sizes[1]
    depth = plan.depth(sizes, out, lambda r, p: analogy_depth(sizes, r, p))
    passes = 2 if refine else 1
    # fail before any work when a pyramid cannot hold patches
    plan.level_sizes(sizes[0], depth, "source image")
    plan.level_sizes(out, depth, structure_label)
    inputs = [input_record(source[0], a, source[1]), input_record(structure[0], b, structure[1])]
    if prepare is not None:
        b = prepare(b, a)
    trained = prepare_model(plan, plan.problem([a], out, depth), seed, root, trained)

    def one(seed: int, progress) -> torch.Tensor:
        y = b
        for part in progress.parts(passes, "pass"):
            problem = plan.problem([a], out, depth, initial=y)
            y = at_size(plan.run(problem, seed, part, trained), out)
        return y

    images, own = run_samples(1, seed, 0, root, one)
    return make_result(
        plan,
        images,
        own,
        root,
        seed=seed,
        depth=depth,
        inputs=[*inputs, *model_inputs],
        options={"refine": refine, **(options or {})},
    )
