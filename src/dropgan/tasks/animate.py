"""Single-image animation: frames that wander smoothly through an image's variations (SinGAN
paper §4), written as GIF, APNG or WebP with Pillow.

SinGAN's animation is the authors' ``generate_gif`` (tamarott/SinGAN,
``SinGAN/manipulate.py``; :mod:`dropgan.engines.singan.animate`): at every scale from
``start_scale`` on, the noise takes a random walk with momentum around the reconstruction's,

    z_t = pull z_opt + (1 - pull) (z_{t-1} + momentum (z_{t-1} - z_{t-2})
          + (1 - momentum) e_t),

``pull`` 0.1 and ``momentum`` 0.9 (their ``alpha`` and ``beta``), 100 frames at 10 fps.

Engines that learn nothing (GPNN, GPDM) get the same walk at the coarsest level, drawn by the
task: around zero (no noise makes the source itself: GPNN's reconstruction), scaled so that
its stationary standard deviation is ``sigma`` (:func:`walk_std`: 0.468 per unit of fresh
noise for the defaults), so that frames in the long run vary as much as
:func:`~dropgan.generate` samples of the same ``sigma``. Every frame runs with the same engine
seed, so the map from noise to image is fixed and only the noise moves. Like SinGAN's, the walk
starts at the reconstruction (frame 0 is close to the source) and wanders off within some ten
frames.

Measured on a 96 x 64 photograph (the tests' ``small_photo``), ``sigma`` 0.75 in the long-run
sense above, seed 0, one thread of a shared, busy 2-core CPU (times are rough); mean
absolute difference per pixel and channel, in [0, 1] units, between consecutive frames
(in brackets: from frame 5 on, past the walk's start) and between six independent
:func:`~dropgan.generate` samples:

==============================================  ============  ===========  ===========  =========
engine, variant (frames)                        consecutive   independent  ratio        s / frame
==============================================  ============  ===========  ===========  =========
gpnn, this task, defaults (20)                  0.048 (0.060) 0.116        0.42 (0.52)  0.7
gpnn, the same walk (40)                        0.044         0.123        0.36         0.7
gpnn, ``coarsest_iters=0`` (40)                 0.059         0.122        0.48         0.4
gpnn, warm start from the previous frame (20)   0.000         0.116        0.00         0.4
gpdm, the same walk (20)                        0.098         0.124        0.78         5.3
gpdm, ``tol=0, lr=0.005`` (12)                  0.083         0.125        0.67         8.9
gpdm, warm start from the previous frame (12)   0.074         0.124        0.60         5.8
==============================================  ============  ===========  ===========  =========

GPNN copies patches, so its frames change in jumps where a patch's nearest neighbour
changes (the paper says it cannot animate smoothly); still, consecutive frames are about
half as far apart as independent samples (with ``iters=3``, the tests' setting, 0.061
against 0.119 from frame 5 on of 12). Warm-starting GPNN from the previous frame (the walk's
increment added to it) freezes: every frame snaps back onto the previous one's patches.
GPDM is not smooth here, whatever we tried: its coarsest level moves continuously with its
start (a change of 0.001 moves it by 0.0009), but the finer levels amplify a change (0.003
in the noise moves the output by 0.085, against 0.108 for another noise; with ``tol=0`` it
is 0.062 after four of the eight levels, and 0.042 after seven with ``lr=0.005``), and it
is ten times slower. GPNN is the default. SinGAN's frames come from its own walk at every
scale of a trained model (not measured here: a full training is hours on this CPU).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch
from PIL import PngImagePlugin

from ..engines import Run
from ..errors import InputError, OutputError
from ..image import METADATA_KEY, ImageLike, atomic_write, read_image, to_pil
from ..params import check_count, check_seed, is_real, sample_seed
from ..progress import Progress, ProgressLike, as_progress
from ..result import Result
from .common import check_sigma, input_record, make_plan, make_result, model_plan
from .generation import _generation_depth

__all__ = [
    "FORMATS",
    "add_animate_command",
    "animate",
    "animation_format",
    "walk_std",
    "write_animation",
]

#: The authors' walk (``generate_gif`` in tamarott/SinGAN ``SinGAN/manipulate.py``): pull
#: towards the reconstruction noise (their alpha) and momentum (their beta).
PULL, MOMENTUM = 0.1, 0.9
#: Their animation: 100 frames at 10 frames per second.
FRAMES, FPS = 100, 10.0
#: Most frames of one animation, and most frames per second (GIF counts in 1/100 s).
MAX_FRAMES, MAX_FPS = 10_000, 100.0

#: Animation formats by file suffix, as Pillow names them (APNG is Pillow's PNG writer with
#: ``save_all``).
FORMATS = {".gif": "GIF", ".png": "PNG", ".apng": "PNG", ".webp": "WEBP"}


def walk_std(pull: float = PULL, momentum: float = MOMENTUM) -> float:
    """The stationary standard deviation of the walk around zero per unit of fresh noise.

    The walk is the autoregression ``z_t = a z_{t-1} + b z_{t-2} + c e_t`` with
    ``a = (1 - pull)(1 + momentum)``, ``b = -(1 - pull) momentum``,
    ``c = (1 - pull)(1 - momentum)``, whose variance is
    ``c^2 (1 - b) / ((1 + b)((1 - b)^2 - a^2))``; it is stationary for ``0 < pull < 1``
    and ``0 <= momentum < 1``.

    Examples
    --------
    >>> round(walk_std(), 3)
    0.468
    """
    a = (1 - pull) * (1 + momentum)
    b = -(1 - pull) * momentum
    c = (1 - pull) * (1 - momentum)
    return math.sqrt(c * c * (1 - b) / ((1 + b) * ((1 - b) ** 2 - a * a)))


def _check_walk(frames: object, fps: object, pull: object, momentum: object) -> int:
    frames = check_count("number of frames", frames, 2, MAX_FRAMES)
    if not (is_real(fps) and 0 < fps <= MAX_FPS):
        raise InputError(f"frames per second must be a number above 0 and at most 100, got {fps!r}")
    if not (is_real(pull) and 0 < pull < 1):
        raise InputError(f"pull must be a number between 0 and 1 (exclusive), got {pull!r}")
    if not (is_real(momentum) and 0 <= momentum < 1):
        raise InputError(
            f"momentum must be a number from 0 up to (not including) 1, got {momentum!r}"
        )
    return frames


def animate(
    image: ImageLike | None = None,
    frames: int = FRAMES,
    *,
    fps: float = FPS,
    pull: float = PULL,
    momentum: float = MOMENTUM,
    sigma: float = 0.75,
    seed: int = 0,
    engine: str = "gpnn",
    model: object = None,
    levels: int | None = None,
    device: str | torch.device | None = None,
    progress: ProgressLike = False,
    **params: object,
) -> Result:
    """Frames of an animation of ``image``: a smooth random walk through its variations.

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor
        The source image (not with ``model``).
    frames : int
        Number of frames, at least 2. Default 100 (the SinGAN authors'). Frame ``t`` is the
        same whatever ``frames`` (a longer animation continues a shorter one).
    fps : float
        Frames per second of the animation file, above 0 and at most 100 (recorded in the
        metadata; :func:`write_animation` uses it). Default 10.
    pull, momentum : float
        The walk's pull towards the reconstruction, in (0, 1), and its momentum, in [0, 1):
        the SinGAN authors' alpha 0.1 and beta 0.9 (see the module notes).
    sigma : float
        GPNN, GPDM: the walk's long-run standard deviation at the coarsest level, per pixel
        and channel, as :func:`~dropgan.generate`'s ``sigma``. Default 0.75.
    seed : int
        Seed of the walk; every frame uses the same engine seed. Engines that learn train
        with ``seed`` itself.
    engine : str
        ``"gpnn"`` (default), ``"gpdm"`` or ``"singan"`` (trains on ``image`` with the
        ``fast`` schedule and ``min_size`` 20, as the authors' ``animation.py``, unless
        ``**params`` say otherwise; frames start at ``start_scale`` 2).
    model : model or folder, optional
        A model trained before (:func:`dropgan.train`) to animate without training, by
        ``engine`` if it learns, else by the first registered engine that does (SinGAN).
        ``**params`` may then only set ``start_scale`` (default 2, the authors').
    levels : int, optional
        GPNN, GPDM: number of downscalings N; by default generation's rule.
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    progress : bool or callable
        ``True`` for a bar on stderr, or a callable receiving every
        :class:`~dropgan.progress.ProgressEvent`; an exception it raises cancels the run.
    **params
        The engine's parameters.

    Returns
    -------
    Result
        ``frames`` images ``(3, H, W)`` in [0, 1] of the source's size (SinGAN: the
        model's), with metadata (``options`` holds ``frames``, ``fps``, ``pull``,
        ``momentum``); :meth:`~dropgan.Result.metadata_of` adds the frame's index.

    Examples
    --------
    >>> x = torch.rand(3, 24, 32)
    >>> r = animate(x, frames=3, iters=1, nn="exact")
    >>> len(r), tuple(r[0].shape), r.metadata["options"]["fps"]
    (3, (3, 24, 32), 10.0)
    """
    root = as_progress(progress)
    frames = _check_walk(frames, fps, pull, momentum)
    sigma = check_sigma(sigma)
    seed = check_seed(seed)
    options = {"frames": frames, "fps": float(fps), "pull": pull, "momentum": momentum}
    if model is not None:
        return _from_model(model, frames, seed, engine, device, root, params, options)
    if image is None:
        raise InputError("give a source image (or a trained model)")
    plan = make_plan("animate", engine, params, device, levels)
    x = read_image(image)
    size = tuple(x.shape[-2:])
    depth = plan.depth([size], size, lambda r, p: _generation_depth(size, size, r, p))
    problem = plan.problem([x.to(plan.device)], size, depth)
    inputs = [input_record(image, x, "image")]
    if plan.learns:
        trained = plan.fit(problem, seed, root.part(0.9, "training"))
        images = _engine_frames(plan, trained, frames, pull, momentum, seed, root)
        return _result(plan, images, root, seed, depth, inputs, options)
    options["sigma"] = sigma
    scale = sigma / walk_std(pull, momentum)
    coarsest = problem.out_sizes[-1]
    gen = torch.Generator().manual_seed(seed)
    walk = _walk(torch.zeros(3, *coarsest), gen, pull, momentum)
    engine_seed = sample_seed(seed, 1)  # the same for every frame: only the noise moves
    images = []
    for _, part in zip(range(frames), root.parts(frames, "frame"), strict=True):
        noise = scale * next(walk)
        images.append(plan.run(replace(problem, noise=noise), engine_seed, part).cpu())
    return _result(plan, images, root, seed, depth, inputs, options)


def _walk(center: torch.Tensor, gen: torch.Generator, pull: float, momentum: float):
    from ..engines.singan.animate import noise_walk

    shape = tuple(center.shape)
    return noise_walk(center, lambda: torch.randn(shape, generator=gen), pull, momentum)


def _engine_frames(plan, model, frames, pull, momentum, seed, root) -> list[torch.Tensor]:
    """The engine's own animation of a trained model (SinGAN: a walk at every scale)."""
    animate_model = getattr(plan.engine, "animate", None)
    if animate_model is None:
        raise InputError(f"the {plan.engine.name} engine cannot animate a trained model")
    part = root.part(1.0, "frames")  # what is left of the run: 0.1 after training
    return animate_model(model, frames, pull, momentum, Run(plan.device, seed, part))


def _result(plan, images, root, seed, depth, inputs, options) -> Result:
    result = make_result(
        plan, images, [], root, seed=seed, depth=depth, inputs=inputs, options=options
    )
    return replace(result, per_image=tuple({"frame": i} for i in range(len(images))))


def _from_model(
    model: object,
    frames: int,
    seed: int,
    engine: str,
    device: str | torch.device | None,
    root: Progress,
    params: Mapping[str, object],
    options: dict[str, object],
) -> Result:
    """Frames of a model trained before: no training, no source image."""
    plan, model, record = model_plan("animate", engine, model, params, device)
    images = _engine_frames(plan, model, frames, options["pull"], options["momentum"], seed, root)
    return _result(plan, images, root, seed, 0, [record], options)


def animation_format(path: str | os.PathLike) -> str:
    """Pillow's format for an animation file, by its suffix (:data:`FORMATS`).

    Examples
    --------
    >>> animation_format("a/b.GIF"), animation_format("x.webp")
    ('GIF', 'WEBP')
    """
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise OutputError(
            f"{Path(path).name}: an animation is written as .gif, .png (APNG) or .webp"
        )
    return fmt


def write_animation(
    result: Result,
    path: str | os.PathLike,
    fps: float | None = None,
    force: bool = False,
) -> Path:
    """Write the frames of ``result`` as an animated GIF, APNG or WebP, atomically.

    The metadata (the run's, as JSON) goes into the PNG text chunk
    :data:`~dropgan.image.METADATA_KEY` of an APNG (:func:`~dropgan.image.read_metadata`
    reads it) and into the comment of a GIF; a WebP holds none. GIF stores frame times in
    hundredths of a second (30 fps plays as 33 fps) and 256 colours per frame. Pillow merges
    a frame identical to the one before into it (the animation plays the same: the frame
    shows for both durations), so a file may hold fewer frames than the result.

    Parameters
    ----------
    result : Result
        Frames, as :func:`animate` returns them.
    path : path
        The file: ``.gif``, ``.png`` (APNG) or ``.webp``; it loops forever.
    fps : float, optional
        Frames per second; by default the result's (``metadata["options"]["fps"]``), else 10.
    force : bool
        Replace an existing file.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> r = Result((torch.zeros(3, 8, 8), torch.ones(3, 8, 8)), {"task": "animate"})
    >>> p = write_animation(r, Path(tempfile.mkdtemp()) / "a.gif", fps=5)
    >>> Image.open(p).n_frames
    2
    """
    path = Path(path)
    fmt = animation_format(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; an animation cannot replace it")
    if path.exists() and not force:
        raise OutputError(f"{path} exists (use --force to overwrite)")
    if fps is None:
        fps = result.metadata.get("options", {}).get("fps", FPS)
    if not (is_real(fps) and 0 < fps <= MAX_FPS):
        raise InputError(f"frames per second must be a number above 0 and at most 100, got {fps!r}")
    if len(result) == 0:
        raise InputError("the result holds no frame to write")
    pictures = [to_pil(frame) for frame in result]
    text = json.dumps(dict(result.metadata), sort_keys=True, default=str)
    options: dict[str, object] = {"duration": 1000.0 / fps, "loop": 0}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text(METADATA_KEY, text)
        options["pnginfo"] = info
    elif fmt == "GIF":
        options["comment"] = text.encode()
        options["duration"] = round(options["duration"])
    elif fmt == "WEBP":
        options["lossless"] = True
        options["duration"] = round(options["duration"])
    buf = io.BytesIO()
    pictures[0].save(buf, format=fmt, save_all=True, append_images=pictures[1:], **options)
    atomic_write(path, lambda f: f.write(buf.getbuffer()))
    return path


def add_animate_command(sub: argparse._SubParsersAction) -> None:
    """The ``dropgan animate`` subcommand (wired into :func:`dropgan.cli.build_parser`)."""
    from ..cli import (
        _api_kwargs,
        _engine_options,
        _integer,
        _number,
        _relay,
        _seed,
        _task_epilog,
    )

    def run(args: argparse.Namespace) -> int:
        started = time.perf_counter()
        if (args.input is None) == (args.model is None):
            raise InputError("give one of an input image and --model DIR")
        # the file and the numbers are checked before any work
        animation_format(args.out)
        if args.out.is_dir():
            raise OutputError(f"{args.out} is a folder; an animation cannot replace it")
        if args.out.exists() and not args.force:
            raise OutputError(f"{args.out} exists (use --force to overwrite)")
        if not args.out.parent.is_dir():
            raise OutputError(f"folder {args.out.parent} does not exist")
        _check_walk(args.frames, args.fps, args.pull, args.momentum)
        kw = _api_kwargs(args)
        root = as_progress(not args.quiet)
        walk = {"fps": args.fps, "pull": args.pull, "momentum": args.momentum}
        if args.model is not None:
            kw.pop("levels")
            result = animate(
                None, args.frames, model=args.model, progress=_relay(root.part(1.0)), **walk, **kw
            )
        else:
            result = animate(
                args.input,
                args.frames,
                sigma=args.sigma,
                progress=_relay(root.part(1.0)),
                **walk,
                **kw,
            )
        write_animation(result, args.out, force=args.force)
        root.finish()
        if not args.quiet:
            print(
                f"dropgan: wrote {len(result)} frames to {args.out} in "
                f"{time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
        return 0

    p = sub.add_parser(
        "animate",
        parents=[_engine_options("animate")],
        help="an animation of one image: a smooth random walk through its variations",
        description="Animate INPUT (or a SinGAN model): frames whose noise takes the SinGAN "
        "authors' random walk with momentum, written as GIF, APNG (.png) or WebP by the "
        "suffix of --out.",
        epilog=_task_epilog("animate", "generation's rule"),
    )
    p.add_argument("input", nargs="?", help="source image")
    p.add_argument("--model", help="animate a model trained by 'dropgan train' (folder)")
    p.add_argument(
        "--out", type=Path, required=True, help="animation file: .gif, .png (APNG) or .webp"
    )
    p.add_argument(
        "--frames", type=_integer, default=FRAMES, help=f"number of frames (default: {FRAMES})"
    )
    p.add_argument("--fps", type=_number, default=FPS, help="frames per second (default: 10)")
    p.add_argument(
        "--pull",
        type=_number,
        default=PULL,
        help="the walk's pull towards the reconstruction, the authors' alpha (default: 0.1)",
    )
    p.add_argument(
        "--momentum",
        type=_number,
        default=MOMENTUM,
        help="the walk's momentum, the authors' beta (default: 0.9)",
    )
    p.add_argument(
        "--sigma",
        type=_number,
        default=0.75,
        help="gpnn, gpdm: the walk's long-run noise at the coarsest level (default: 0.75)",
    )
    g = p.add_argument_group("output and run")
    g.add_argument("--force", action="store_true", help="overwrite an existing file")
    g.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    g.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    g.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    g.add_argument("--levels", type=int, help="pyramid depth N (default: the task's rule)")
    p.set_defaults(run=run)
