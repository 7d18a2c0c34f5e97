"""SinGAN (Shaham, Dekel & Michaeli, ICCV 2019): a pyramid of small GANs trained on one image.

Faithful to the paper and the authors' code (tamarott/SinGAN) where they agree, to the paper
where they do not, and fixed where their code fails on today's PyTorch; every difference is
named in the module that makes it (:mod:`.pyramid`, :mod:`.model`, :mod:`.train`,
:mod:`.sample`). Models are folders of safetensors and JSON (:mod:`.files`).

Two ways in:

* the functions :func:`train` (image -> :class:`SinGANModel`, with progress, a checkpoint
  after every scale and ``resume``) and :func:`sample` (model -> images at any size);
* the :class:`SinGAN` engine, for tasks: :meth:`SinGAN.fit` trains on a
  :class:`~dropgan.engines.base.Source`, :meth:`SinGAN.sample` answers a
  :class:`~dropgan.engines.base.Problem` from a trained model.

Examples
--------
>>> import torch
>>> model = train(torch.rand(3, 24, 32), iters=2, scales=2, min_size=12, seed=1)
>>> [tuple(x.shape) for x in sample(model, n=2, scale=(1.0, 1.5))]
[(3, 24, 48), (3, 24, 48)]
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ...errors import InputError
from ...image import ImageLike, read_image
from ...params import check_count, check_seed, is_real, sample_seed
from ...progress import Progress, ProgressLike, as_progress
from ..base import Problem, Run, Source, TrainableEngine
from .animate import animate_frames
from .files import load_model, save_model
from .model import SinGANModel
from .params import SCHEDULES, SR_DEFAULTS, SinGANParams
from .pyramid import plan_scales, scale_count
from .sample import sample_image
from .train import train_model

__all__ = [
    "SCHEDULES",
    "SinGAN",
    "SinGANModel",
    "SinGANParams",
    "load_model",
    "sample",
    "save_model",
    "train",
]


class SinGAN(TrainableEngine):
    """SinGAN as an engine: random generation, and SinGAN's applications by injection, from
    a model trained on the first source.

    Its pyramid is its own (:func:`~.pyramid.plan_scales`): :meth:`depth` and
    :meth:`level_sizes` give it to tasks. :meth:`fit` trains on ``source.levels[0]`` (shrunk
    to at most ``max_size`` px, as :func:`train`) with as many scales as the source has
    levels. :meth:`sample` makes an image at the model's resolution: ``problem.out_sizes[0]``
    is read relative to the first source's finest level (an output of the source's size is
    one of the model's size, one twice as wide is twice the model's width), or as is when
    the problem has no source (sampling a saved model); the start scale is the model's
    ``start_scale`` parameter. SinGAN draws its own noise from ``run.seed``:
    ``problem.noise`` is not used. ``problem.initial``, when given, is injected at
    ``start_scale`` (:func:`~.sample.sample_image`'s ``inject``): the applications
    (paint-to-image, harmonization, editing, super-resolution, denoising) are problems
    with an initial image, as GPNN's are. Each application has its own ``start_scale``
    and trains with the ``fast`` schedule by default (:attr:`task_defaults`); the authors'
    scripts take the injection scale as a required argument, so the defaults are ours.

    Examples
    --------
    >>> engine = SinGAN()
    >>> depth = engine.depth(SinGANParams(), [(188, 250)], (188, 250), lambda r, p: 0)
    >>> depth, engine.level_sizes(SinGANParams(), (188, 250), depth)[:2]
    (9, [(188, 250), (151, 200)])
    """

    name = "singan"
    summary = "SinGAN: trains a pyramid of GANs on the image, then samples (slow on a CPU)"
    params_type = SinGANParams
    tasks = frozenset(
        {"generate", "paint2image", "harmonize", "edit", "superres", "denoise", "animate"}
    )
    #: Per application: the ``fast`` schedule (issue 13) and an injection scale, counted
    #: from the coarsest (0) as the authors'. The defaults suit the ``fast`` schedule's 6
    #: scales and the ~8-10 of ``paper`` at 250 px: a coarse one for a painting ("one of the
    #: coarse levels", paper §4), an intermediate one for an edit (paper §4) and for
    #: harmonization; super-resolution injects at the finest (:data:`SR_DEFAULTS`);
    #: denoising at the middle of the fast pyramid (the study's best was the middle scale).
    task_defaults = {
        "paint2image": {"schedule": "fast", "start_scale": 1},
        "harmonize": {"schedule": "fast", "start_scale": 3},
        "edit": {"schedule": "fast", "start_scale": 2},
        "denoise": {"schedule": "fast", "start_scale": 3},
        "superres": {"schedule": "fast", **SR_DEFAULTS},
        # the authors' animation.py trains with min_size 20; their generate_gif starts at 2
        "animate": {"schedule": "fast", "min_size": 20, "start_scale": 2},
    }
    #: The parameters a trained model may still change: how it samples.
    sampling_params = frozenset({"start_scale"})

    def depth(
        self,
        params: SinGANParams,
        source_sizes: Sequence[Sequence[int]],
        out_size: Sequence[int],
        task_rule: Callable[[float, int], int],
    ) -> int:
        """SinGAN's scale count for the first source, less one (its rule, not the task's)."""
        return max(1, scale_count(source_sizes[0], params) - 1)

    def level_sizes(
        self, params: SinGANParams, size: Sequence[int], depth: int
    ) -> list[tuple[int, int]]:
        """The ``depth + 1`` level sizes of an image of ``size``, finest first: the size as
        given (:meth:`fit` shrinks it to ``max_size`` itself, as the authors resize the
        image they read), then the coarser scales of a model of it. An image too small to
        train on (an output) gets its own size at every level: :meth:`sample` uses only
        the finest."""
        h, w = int(size[0]), int(size[1])
        try:
            scales = plan_scales(size, dataclasses.replace(params, scales=max(2, depth + 1)))
        except InputError:
            return [(h, w)] * (depth + 1)
        return [(h, w), *reversed(scales.sizes[:-1])][: depth + 1]

    def resolve(self, params: SinGANParams, device: torch.device) -> SinGANParams:
        return params.resolved()

    def fit(
        self,
        source: Source,
        params: SinGANParams,
        run: Run,
        *,
        checkpoint: Callable[[SinGANModel], object] | None = None,
        resume: SinGANModel | None = None,
    ) -> SinGANModel:
        if params.scales is None and len(source.levels) > 1:
            params = dataclasses.replace(params, scales=len(source.levels))
        image = source.levels[0].to(run.device)
        return train_model(
            image,
            params,
            seed=run.seed,
            device=run.device,
            progress=run.progress,
            checkpoint=checkpoint,
            resume=resume,
        )

    def save(self, model: SinGANModel, folder: str | os.PathLike) -> None:
        save_model(model, folder)

    def load(self, folder: str | os.PathLike, device: torch.device) -> SinGANModel:
        return load_model(folder, device)

    def model_size(self, model: SinGANModel) -> tuple[int, int]:
        return tuple(model.size)

    def configure(self, model: SinGANModel, options: Mapping[str, object]) -> SinGANModel:
        """A trained model samples with another ``start_scale``; its training parameters
        are fixed."""
        given = {k: v for k, v in options.items() if v is not None}
        fixed = sorted(set(given) - {"start_scale"})
        if fixed:
            raise InputError(f"parameter(s) {', '.join(fixed)} are fixed by the trained model")
        if not given:
            return model
        return dataclasses.replace(model, params=dataclasses.replace(model.params, **given))

    def animate(
        self, model: SinGANModel, frames: int, alpha: float, beta: float, run: Run
    ) -> list[torch.Tensor]:
        """``frames`` frames of the authors' random walk in noise space around the
        reconstruction, from the model's ``start_scale`` (:func:`~.animate.animate_frames`)."""
        return animate_frames(
            model.to(run.device),
            frames,
            alpha=alpha,
            beta=beta,
            start_scale=model.params.start_scale,
            generator=run.generator(),
            progress=run.progress,
        )

    def sample(self, model: SinGANModel, problem: Problem, run: Run) -> torch.Tensor:
        size = problem.out_sizes[0] if problem.out_sizes else model.size
        if problem.sources:  # the output's size relative to the source's, at model size
            sh, sw = problem.sources[0].levels[0].shape[-2:]
            size = (
                max(1, round(model.size[0] * size[0] / sh)),
                max(1, round(model.size[1] * size[1] / sw)),
            )
        return sample_image(
            model.to(run.device),
            size,
            start_scale=model.params.start_scale,
            generator=run.generator(),
            progress=run.progress,
            inject=problem.initial,
        )


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda was asked for but no CUDA GPU is available")
    return dev


def _params(params: SinGANParams | None, options: dict[str, Any]) -> SinGANParams | None:
    if params is not None and not isinstance(params, SinGANParams):
        raise InputError(f"params must be SinGANParams, got {type(params).__name__}")
    if not options:
        return params
    names = {f.name for f in dataclasses.fields(SinGANParams)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise InputError(
            f"unknown SinGAN parameter(s) {', '.join(unknown)} (it takes {', '.join(names)})"
        )
    return dataclasses.replace(params or SinGANParams(), **options)


def _as_progress(progress: ProgressLike | Progress) -> tuple[Progress, bool]:
    """The :class:`Progress` to report to, and whether it is a root this call finishes."""
    if isinstance(progress, Progress):
        return progress, False
    return as_progress(progress), True


def train(
    image: ImageLike | None,
    params: SinGANParams | None = None,
    *,
    seed: int | None = None,
    device: str | torch.device | None = None,
    progress: ProgressLike | Progress = None,
    checkpoint: Callable[[SinGANModel], object] | str | os.PathLike | None = None,
    resume: SinGANModel | str | os.PathLike | None = None,
    **options: Any,
) -> SinGANModel:
    """Train SinGAN on ``image``.

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor, or None
        The training image (:func:`dropgan.read_image`); None when resuming.
    params : SinGANParams, optional
        Default the paper's schedule. ``**options`` override single fields
        (``schedule="fast"``, ``iters=500``, ...).
    seed : int, optional
        Seeds torch, numpy and Python's ``random`` (per scale): the same seed gives the same
        model on the same device. Default 0, or the resumed model's.
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    progress : bool, callable or Progress
        ``True`` for a bar on stderr, or a callable receiving
        :class:`~dropgan.progress.ProgressEvent` after every iteration (stage ``"scale
        3/10"``); an exception it raises stops the training at once.
    checkpoint : callable or folder, optional
        Called with a copy of the model after every scale; a folder path saves it there
        (:func:`save_model`), for :func:`train` to ``resume`` from.
    resume : SinGANModel or folder, optional
        A partly trained model: training continues from its last finished scale and ends
        with the weights an uninterrupted run would have. Its parameters and seed are used.

    Returns
    -------
    SinGANModel

    Examples
    --------
    >>> import torch
    >>> m = train(torch.rand(3, 24, 32), iters=2, scales=2, min_size=12)
    >>> m.complete, m.scales.sizes
    (True, ((12, 16), (24, 32)))
    """
    params = _params(params, options)
    if seed is not None:
        seed = check_seed(seed)
    if resume is not None and not isinstance(resume, SinGANModel):
        resume = load_model(resume, _device(device))
    dev = _device(device) if device is not None or resume is None else resume.device
    x = None if image is None else read_image(image)
    if isinstance(checkpoint, (str, os.PathLike)):
        folder = checkpoint

        def checkpoint(model: SinGANModel) -> None:
            save_model(model, folder)

    root, own = _as_progress(progress)
    model = train_model(
        x, params, seed=seed, device=dev, progress=root, checkpoint=checkpoint, resume=resume
    )
    if own:
        root.finish()
    return model


def sample(
    model: SinGANModel | str | os.PathLike,
    n: int = 1,
    *,
    size: Sequence[int] | None = None,
    scale: float | Sequence[float] | None = None,
    start_scale: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: ProgressLike | Progress = None,
) -> list[torch.Tensor]:
    """``n`` random samples from a trained model.

    Parameters
    ----------
    model : SinGANModel or folder
        A trained model, or a folder written by :func:`save_model`.
    n : int
        Number of samples.
    size : (height, width), optional
        Output size; default the model's (its training image's).
    scale : float or (scale_v, scale_h), optional
        Output size as a multiple of the model's, instead of ``size``.
    start_scale : int, optional
        Scales below it (0 the coarsest) replay the reconstruction, the others draw noise;
        default the model's ``start_scale`` parameter (0).
    seed : int
        Sample ``i`` depends on ``seed`` and ``i`` only
        (:func:`~dropgan.params.sample_seed`), not on ``n`` or the device.
    device : str, optional
        Default the model's (for a folder: CUDA when available).
    progress : bool, callable or Progress

    Returns
    -------
    list of Tensor
        ``(3, H, W)`` images in [0, 1], on the CPU.

    Examples
    --------
    >>> import torch
    >>> m = train(torch.rand(3, 24, 32), iters=1, scales=2, min_size=12)
    >>> [tuple(x.shape) for x in sample(m, n=2, size=(20, 40), start_scale=1)]
    [(3, 20, 40), (3, 20, 40)]
    """
    n = check_count("number of samples", n)
    seed = check_seed(seed)
    if not isinstance(model, SinGANModel):
        model = load_model(model, _device(device))
    elif device is not None:
        model = model.to(_device(device))
    out = _size(model.size, size, scale)
    start = model.params.start_scale if start_scale is None else start_scale
    if start_scale is not None:
        check_count("start scale", start, 0)
    root, own = _as_progress(progress)
    images = []
    for i, part in enumerate(root.parts(n, "sample")):
        gen = torch.Generator().manual_seed(sample_seed(seed, i))
        x = sample_image(model, out, start_scale=start, generator=gen, progress=part)
        images.append(x.cpu())
    if own:
        root.finish()
    return images


def _size(
    model_size: tuple[int, int],
    size: Sequence[int] | None,
    scale: float | Sequence[float] | None,
) -> tuple[int, int]:
    """The output's (h, w): ``size``, or the model's times ``scale``."""
    if size is not None and scale is not None:
        raise InputError("give an output size or a scale, not both")
    if size is not None:
        try:
            h, w = (check_count("output size", v) for v in size)
        except TypeError:
            raise InputError(f"output size must be (height, width), got {size!r}") from None
        return h, w
    if scale is None:
        return model_size
    sv, sh = (scale, scale) if is_real(scale) else tuple(scale)
    if not (is_real(sv) and is_real(sh) and sv > 0 and sh > 0):
        raise InputError(f"scale factors must be positive, got {scale!r}")
    return max(1, round(model_size[0] * sv)), max(1, round(model_size[1] * sh))
