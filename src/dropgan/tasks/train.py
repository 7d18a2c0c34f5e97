"""Training: a model of one image for the engines that learn (SinGAN), saved as a folder."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..engines import ENGINES, Run, Source, TrainableEngine
from ..engines.base import engines_for
from ..errors import InputError, OutputError
from ..image import ImageLike, read_image
from ..params import check_seed
from ..progress import ProgressLike, as_progress
from .common import make_plan

__all__ = ["train"]


def _learning_engines() -> list[str]:
    return [e for e in engines_for("generate") if isinstance(ENGINES[e], TrainableEngine)]


def train(
    image: ImageLike | None,
    out: str | os.PathLike | None = None,
    *,
    engine: str | None = None,
    seed: int | None = None,
    resume: bool = False,
    force: bool = False,
    device: str | torch.device | None = None,
    progress: ProgressLike = False,
    **params: object,
) -> object:
    """Train a model of ``image`` with an engine that learns, and save it to ``out``.

    The model is saved after every stage (SinGAN: every scale), so an interrupted training
    keeps what it finished, and ``resume=True`` continues it from ``out`` to the same weights
    an uninterrupted run has.

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor, or None
        The training image; None when resuming (the model holds it).
    out : folder, optional
        Where the model goes (weights in safetensors, a JSON config); None keeps it in
        memory only.
    engine : str, optional
        An engine that learns; by default the first registered (``"singan"``).
    seed : int, optional
        Seeds the training: the same seed gives the same model on the same device. Default
        0, or the resumed model's.
    resume : bool
        Continue the partly trained model in ``out``.
    force : bool
        Replace a model already in ``out``.
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    progress : bool or callable
        A bar on stderr, or a callable receiving :class:`~dropgan.progress.ProgressEvent`
        after every iteration; an exception it raises stops the training (the last finished
        stage stays saved).
    **params
        The engine's parameters (SinGAN: :class:`~dropgan.engines.singan.SinGANParams`,
        e.g. ``schedule="fast"``, ``iters``, ``max_size``).

    Returns
    -------
    model
        The trained model, for :func:`dropgan.generate` ``(model=...)``.

    Examples
    --------
    >>> import dropgan, torch
    >>> model = dropgan.train(torch.rand(3, 24, 32), iters=2, scales=2, min_size=12)
    >>> [tuple(y.shape) for y in dropgan.generate(model=model, n=2, scale=(1, 1.5))]
    [(3, 24, 48), (3, 24, 48)]
    """
    learning = _learning_engines()
    name = engine or (learning[0] if learning else None)
    if name not in learning:
        raise InputError(
            f"engine {name!r} does not train models (engines that do: {', '.join(learning)})"
        )
    plan = make_plan("generate", name, params, device)
    eng: TrainableEngine = plan.engine
    partial = None
    if resume:
        if out is None:
            raise InputError("resuming needs the folder of the partly trained model")
        partial = eng.load(out, plan.device)
    elif out is not None and Path(out).exists() and any(Path(out).iterdir()) and not force:
        raise OutputError(f"{out} exists (resume it, or replace it with force)")
    if image is None and partial is None:
        raise InputError("give a training image (or resume a partly trained model)")
    if image is not None:
        source = Source([read_image(image).to(plan.device)])
    else:
        source = Source([partial.image.to(plan.device)])
    # a resumed training keeps the model's own parameters and seed unless told otherwise
    given = any(v is not None for v in params.values())
    settings = partial.params if partial is not None and not given else plan.params
    seed = partial.seed if partial is not None and seed is None else check_seed(seed or 0)
    root = as_progress(progress)
    checkpoint = None if out is None else (lambda model: eng.save(model, out))
    model = eng.fit(
        source, settings, Run(plan.device, seed, root), checkpoint=checkpoint, resume=partial
    )
    if out is not None:
        eng.save(model, out)
    root.finish()
    return model
