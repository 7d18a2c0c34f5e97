"""The ``dropgan`` command: a thin layer that parses, calls the public API and reports.

Every failure a user can cause ends as one ``dropgan: error: ...`` line and exit status 2,
with nothing written.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import os
import signal
import sys
import time
import typing
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image

from ._version import __version__
from .batch import add_batch_command
from .engines import ENGINES
from .engines.base import TrainableEngine, engines_for
from .errors import DropganError, InputError
from .examples import EXAMPLES, example
from .outputs import OutputSet
from .params import check_count, check_seed
from .progress import Progress, ProgressEvent, as_progress
from .result import Result
from .tasks import analogy, collage, inpaint, retarget
from .tasks.animate import add_animate_command
from .tasks.denoise import add_denoise_command
from .tasks.edit import add_edit_command
from .tasks.harmonize import add_harmonize_command
from .tasks.paint import add_paint2image_command
from .tasks.superres import add_superres_command
from .ui import add_ui_command


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        self.exit(2, f"dropgan: error: {message}\n")


def _size(text: str) -> tuple[int, int]:
    """'WxH' -> (H, W)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return h, w


def _scale(text: str) -> float | tuple[float, float]:
    """'F' or 'SXxSY' -> F or (SY, SX)."""
    try:
        parts = [float(v) for v in text.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a factor or SXxSY, got {text!r}") from None
    if len(parts) not in (1, 2) or not all(v > 0 and math.isfinite(v) for v in parts):
        raise argparse.ArgumentTypeError(f"expected positive factor(s), got {text!r}")
    return parts[0] if len(parts) == 1 else (parts[1], parts[0])


def _run_options() -> argparse.ArgumentParser:
    """Options every synthesis command shares."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("output and run")
    g.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: out)")
    g.add_argument("--force", action="store_true", help="overwrite existing files")
    g.add_argument("--quiet", action="store_true", help="no progress bar, notes or summary")
    g.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    g.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    g.add_argument("--levels", type=int, help="pyramid depth N (default: the task's rule)")
    return p


def _seed(text: str) -> int:
    try:
        return check_seed(int(text))
    except (ValueError, InputError):
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to 2**63 - 1, got {text!r}"
        ) from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _boolean(text: str) -> bool:
    value = {"true": True, "on": True, "yes": True, "1": True}.get(text.lower())
    value = {"false": False, "off": False, "no": False, "0": False}.get(text.lower(), value)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return value


def _option_type(hint: object) -> Callable[[str], object]:
    """The argparse type of a parameter field from its type hint (``X | None`` is X)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    return {int: _integer, float: _number, bool: _boolean}.get(args[0], str)


def _engine_params() -> dict[str, tuple[dataclasses.Field, type, list[str]]]:
    """Every parameter of every registered engine, by name: its field, its type hint and
    the engines that take it."""
    found: dict[str, tuple[dataclasses.Field, type, list[str]]] = {}
    for name, engine in ENGINES.items():
        hints = typing.get_type_hints(engine.params_type)
        for f in dataclasses.fields(engine.params_type):
            found.setdefault(f.name, (f, hints[f.name], []))[2].append(name)
    return found


def _engine_options(
    task: str, exclude: frozenset[str] = frozenset(), learning: bool = False
) -> argparse.ArgumentParser:
    """``--engine`` with the engines that do ``task`` (only those that learn, with
    ``learning``), and every parameter of those engines but ``exclude``: the registry is the
    only list, so a new engine needs no edit here."""
    names = [
        n for n in engines_for(task) if not learning or isinstance(ENGINES[n], TrainableEngine)
    ]
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("engine")
    g.add_argument(
        "--engine",
        choices=names,
        default=names[0],
        help="; ".join(f"{n}: {ENGINES[n].summary}" for n in names) + f" (default: {names[0]})",
    )
    g = p.add_argument_group("engine parameters (the task's default unless given)")
    for name, (field, hint, owners) in _engine_params().items():
        if not set(owners) & set(names) or name in exclude:
            continue
        owners = [o for o in owners if o in names]
        g.add_argument(
            f"--{name.replace('_', '-')}",
            dest=f"param_{name}",
            metavar=name.upper(),
            type=field.metadata.get("cli_type") or _option_type(hint),
            help=_option_help(task, name, owners, all_engines=len(owners) == len(names)),
        )
    return p


def _option_help(task: str, name: str, engines: Sequence[str], all_engines: bool) -> str:
    """An engine parameter's help: its text and default, per engine where they differ."""
    texts = {e: _field(e, name).metadata["help"] for e in engines}
    if len(set(texts.values())) == 1:
        tag = "" if all_engines else f"{', '.join(engines)}: "
        return f"{tag}{texts[engines[0]]} (default: {_defaults(task, name, engines)})"
    return "; ".join(f"{e}: {t} (default: {_defaults(task, name, [e])})" for e, t in texts.items())


def _field(engine: str, name: str) -> dataclasses.Field:
    return {f.name: f for f in dataclasses.fields(ENGINES[engine].params_type)}[name]


def _defaults(task: str, name: str, engines: Sequence[str]) -> str:
    """The default of parameter ``name`` for ``task``, per engine where they differ."""
    texts = {}
    for engine in engines:
        field = _field(engine, name)
        value = ENGINES[engine].task_defaults.get(task, {}).get(name, field.default)
        if value is None:
            texts[engine] = field.metadata.get("default_text", "none")
        else:
            texts[engine] = f"{value:g}" if isinstance(value, (int, float)) else str(value)
    if len(set(texts.values())) == 1:
        return next(iter(texts.values()))
    return ", ".join(f"{v} with {k}" for k, v in texts.items())


def _params(args: argparse.Namespace) -> dict[str, object]:
    """The engine parameters given on the command line."""
    prefix = "param_"
    return {
        k.removeprefix(prefix): v
        for k, v in vars(args).items()
        if k.startswith(prefix) and v is not None
    }


def _api_kwargs(args: argparse.Namespace) -> dict[str, object]:
    """Keyword arguments of every task: engine, its parameters, seed, device and depth."""
    kw = {"engine": args.engine, "seed": args.seed, "device": args.device, "levels": args.levels}
    return {**kw, **_params(args)}


def _input(args: argparse.Namespace) -> tuple[object, str]:
    given = [a for a in (args.input, args.example, args.model) if a]
    if len(given) > 1:
        raise InputError("give one of an input image, --example NAME and --model DIR")
    if args.model:
        return None, _stem(args.model)
    if args.example:
        return example(args.example), args.example
    if args.input is None:
        raise InputError("give an input image (or --example NAME)")
    return args.input, _stem(args.input)


def _cmd_generate(args: argparse.Namespace, **run: object) -> Result:
    from .tasks.generation import generate

    src, _ = _input(args)
    kw = {**_api_kwargs(args), **run}
    if args.model:
        kw.pop("levels")
        return generate(model=args.model, size=args.size, scale=args.scale, **kw)
    return generate(src, size=args.size, scale=args.scale, sigma=args.sigma, **kw)


def _image_command(
    produce: Callable[..., Result],
    names: Callable[[argparse.Namespace], list[str]],
    samples: bool = False,
) -> Callable[[argparse.Namespace], int]:
    """A command that makes images: its outputs checked before the work and written as they
    are made (:class:`~dropgan.outputs.OutputSet`).

    ``produce(args, progress=...)`` returns the task's result; with ``samples``, it also takes
    ``start`` and ``n`` and is called once per sample, so that each is written as soon as it
    is made (sample i does not depend on the others).
    """

    def run(args: argparse.Namespace) -> int:
        started = time.perf_counter()
        if samples:
            check_count("number of samples", args.n)
            check_count("start", args.start, 0)
        files = names(args)
        root = as_progress(not args.quiet)
        with OutputSet(args.out, files, force=args.force) as out:
            try:
                if samples:
                    parts = root.parts(len(files), "sample")
                    for i, (name, part) in enumerate(zip(files, parts, strict=True)):
                        result = produce(args, start=args.start + i, n=1, progress=_relay(part))
                        out.write(name, result[0], result.metadata_of(0))
                else:
                    result = produce(args, progress=_relay(root.part(1.0)))
                    for i, name in enumerate(files):
                        out.write(name, result[i], result.metadata_of(i))
                root.finish()
            except BaseException as e:
                if out.written and isinstance(e, (KeyboardInterrupt, DropganError)):
                    print(
                        f"dropgan: note: {len(out.written)} of {len(files)} image(s) were "
                        f"written to {args.out}/ before this stopped",
                        file=sys.stderr,
                    )
                raise
        if not args.quiet:
            print(
                f"dropgan: wrote {len(out.written)} image(s) to {args.out}/ in "
                f"{time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
        return 0

    return run


def _relay(part: Progress) -> Callable[[ProgressEvent], None]:
    """A progress callable that relays a task's events into ``part`` of the command's bar."""
    return lambda event: part.at(event.fraction, event.stage)


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        parents=[_engine_options("generate"), _run_options()],
        help="random samples of one image at any size",
        description="Random samples with the patch distribution of INPUT.",
    )
    p.add_argument("input", nargs="?", help="source image")
    p.add_argument("--example", choices=EXAMPLES, help="use a built-in example image")
    p.add_argument(
        "--model", help="sample a model trained by 'dropgan train' (folder) instead of an image"
    )
    p.add_argument("-n", type=int, default=1, help="number of samples (default: 1)")
    p.add_argument("--start", type=int, default=0, help="index of the first sample (default: 0)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", type=_size, help="output size WxH (default: the input's)")
    size.add_argument("--scale", type=_scale, help="output size as F or SXxSY times the input's")
    p.add_argument(
        "--sigma",
        type=_number,
        default=0.75,
        help="noise at the coarsest level (diversity; default: 0.75)",
    )
    names = lambda a: [f"{_input(a)[1]}_{i}.png" for i in range(a.start, a.start + max(a.n, 0))]  # noqa: E731
    p.set_defaults(run=_image_command(_cmd_generate, names, samples=True))


def _cmd_train(args: argparse.Namespace) -> int:
    from .tasks.train import train

    kw = {k: v for k, v in _api_kwargs(args).items() if k != "levels"}
    try:
        train(
            args.input,
            args.out,
            resume=args.resume,
            force=args.force,
            progress=not args.quiet,
            **kw,
        )
    except KeyboardInterrupt:
        print(
            f"dropgan: note: the scales finished so far are saved in {args.out}/; "
            "--resume continues the training",
            file=sys.stderr,
        )
        raise
    if not args.quiet:
        print(f"dropgan: model saved to {args.out}/", file=sys.stderr)
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        parents=[_engine_options("generate", learning=True)],
        help="train a model of one image (SinGAN), saved after every scale",
        description="Train a model of INPUT with an engine that learns; 'dropgan generate "
        "--model OUT' samples it.",
    )
    p.add_argument("input", nargs="?", help="training image (not needed with --resume)")
    p.add_argument("--out", type=Path, required=True, help="model folder")
    p.add_argument("--resume", action="store_true", help="continue the training in --out")
    p.add_argument("--force", action="store_true", help="replace a model in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--seed", type=_seed, help="random seed (default: 0, or the resumed model's)")
    p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    p.set_defaults(run=_cmd_train, levels=None)


def _stem(path: object) -> str:
    return Path(path).stem if isinstance(path, (str, os.PathLike)) else STDIN_STEM


def _text(value: object) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _task_epilog(task: str, depth: str) -> str:
    """The task's own defaults, which the shared parameter help cannot show."""
    parts = []
    for name in engines_for(task):
        defaults = ENGINES[name].task_defaults.get(task, {})
        if defaults:
            given = " ".join(f"--{k.replace('_', '-')} {_text(v)}" for k, v in defaults.items())
            parts.append(f"{name}: {given}")
    own = f"Defaults for this task: {'; '.join(parts)}; " if parts else "Defaults: "
    return f"{own}--levels: {depth}."


def _cmd_retarget(args: argparse.Namespace, **run: object) -> Result:
    kw = {**_api_kwargs(args), **run}
    return retarget.retarget(args.input, args.size, scale=args.scale, max_step=args.max_step, **kw)


def _retarget_names(args: argparse.Namespace) -> list[str]:
    if args.size is not None:
        what = f"{args.size[1]}x{args.size[0]}"
    else:
        sy, sx = (args.scale, args.scale) if isinstance(args.scale, float) else args.scale
        what = f"scale{sx:g}x{sy:g}"
    return [f"{_stem(args.input)}_{what}.png"]


def _add_retarget(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "retarget",
        parents=[_engine_options("retarget"), _run_options()],
        help="resize an image to any size or aspect ratio, keeping its elements' size",
        description="Retarget INPUT to another size, keeping its patch distribution.",
        epilog=_task_epilog("retarget", "the input's smaller side about 4 patches at the coarsest"),
    )
    p.add_argument("input", help="source image")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--size", type=_size, help="target size WxH")
    size.add_argument("--scale", type=_scale, help="target size as F or SXxSY times the input's")
    p.add_argument(
        "--max-step",
        type=_number,
        default=1.3,
        help="largest change of either axis per gradual step (default: 1.3)",
    )
    p.set_defaults(run=_image_command(_cmd_retarget, _retarget_names))


def _cmd_analogy(args: argparse.Namespace, **run: object) -> Result:
    kw = {**_api_kwargs(args), **run}
    return analogy.analogy(args.source, args.structure, refine=args.refine, **kw)


def _analogy_names(args: argparse.Namespace) -> list[str]:
    return [f"{_stem(args.source)}_{_stem(args.structure)}_analogy.png"]


def _add_analogy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analogy",
        parents=[_engine_options("analogy"), _run_options()],
        help="the look of one image in the layout of another (also sketch-to-image)",
        description="Structural analogy: an image with the patches of --source laid out "
        "like --structure (a photo or a sketch); the output has the structure's size.",
        epilog=_task_epilog("analogy", "the smaller image's smaller side about 8 patches"),
    )
    p.add_argument("--source", required=True, help="image A, whose appearance the output has")
    p.add_argument("--structure", required=True, help="image B, whose layout the output has")
    p.add_argument(
        "--no-refine",
        dest="refine",
        action="store_false",
        help="skip the refinement pass (the output fed back as the initial guess)",
    )
    p.set_defaults(run=_image_command(_cmd_analogy, _analogy_names))


def _cmd_inpaint(args: argparse.Namespace, **run: object) -> Result:
    return inpaint.inpaint(args.input, args.mask, steer=args.steer, **_api_kwargs(args), **run)


def _inpaint_names(args: argparse.Namespace) -> list[str]:
    return [f"{_stem(args.input)}_inpaint.png"]


def _add_inpaint(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inpaint",
        parents=[_engine_options("inpaint"), _run_options()],
        help="fill a hole, steered by the colour it is painted with",
        description="Conditional inpainting: fill the hole of INPUT marked by --mask "
        "(white on black) with INPUT's own patches; the colour the hole is painted with "
        "steers the fill.",
        epilog=_task_epilog("inpaint", "the hole about one patch"),
    )
    p.add_argument("input", help="image, with the hole painted in the steering colour")
    p.add_argument("--mask", required=True, help="the hole: white (non-black) pixels")
    p.add_argument(
        "--steer",
        choices=inpaint.STEER_MODES,
        default="auto",
        help="painted: steer with the hole's colour; mean: with the colour around it; "
        "auto: painted if the hole is near-uniform, else mean (default: auto)",
    )
    p.set_defaults(run=_image_command(_cmd_inpaint, _inpaint_names))


def _cmd_collage(args: argparse.Namespace, **run: object) -> Result:
    return collage.collage(args.inputs, args.size, **_api_kwargs(args), **run)


def _collage_names(args: argparse.Namespace) -> list[str]:
    return [f"{_stem(args.inputs[0])}_collage.png"]


def _add_collage(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "collage",
        parents=[_engine_options("collage"), _run_options()],
        help="merge several images into one that keeps all their patches",
        description="Collage: merge the INPUTS (heights within a factor 2) seamlessly into "
        "one image, starting from them side by side.",
        epilog=_task_epilog("collage", "the smallest input's smaller side about 4 patches"),
    )
    p.add_argument("inputs", nargs="+", help="two or more images")
    p.add_argument("--size", type=_size, help="output size WxH (default: side by side)")
    p.set_defaults(run=_image_command(_cmd_collage, _collage_names))


def _cmd_setup_metrics(args: argparse.Namespace) -> int:
    from .metrics import setup_metrics

    folder = setup_metrics(cache_dir=args.cache, quiet=args.quiet)
    print(folder)
    return 0


def _metric_list(text: str | None) -> list[str] | None:
    """'a,b' -> ['a', 'b']; None -> None (all metrics)."""
    if text is None:
        return None
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise InputError(f"no metric named in {text!r}")
    return names


def _cmd_eval(args: argparse.Namespace) -> int:
    from .metrics import evaluate_folders, markdown_table

    metrics = _metric_list(args.metrics)
    check_count("patch size", args.patch_size, 1)
    rows = evaluate_folders(
        args.real,
        args.fake,
        out_dir=args.out,
        patch_size=args.patch_size,
        metrics=metrics,
        max_queries=args.max_queries,
        cache_dir=args.cache,
        force=args.force,
        progress=not args.quiet,
        search=args.search,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
    )
    print(markdown_table(rows))
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .metrics.reproduce import Run, reproduce

    runs = [Run.parse(spec) for spec in args.runs or []]
    if not runs:
        runs = [
            Run(engine=args.engine, nn=nn, sigma=sigma, samples=args.samples)
            for nn in args.nn or [None]
            for sigma in args.sigma or [0.75]
        ]
    references = {}
    for item in args.reference or []:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise InputError(f"--reference expects NAME=DIR, got {item!r}")
        references[name] = Path(folder)
    metrics = _metric_list(args.metrics)
    params = _params(args)
    if args.levels is not None:
        params["levels"] = args.levels
    page = reproduce(
        args.images,
        args.out,
        runs,
        references=references,
        page=args.page,
        seed=args.seed,
        device=args.device,
        metrics=metrics,
        max_queries=args.max_queries,
        cache_dir=args.cache,
        force=args.force,
        progress=not args.quiet,
        search=args.search,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        ray=args.ray,
        **params,
    )
    print(page)
    return 0


def _max_queries(text: str) -> int | None:
    if text == "all":
        return None
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or 'all', got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return v


def _pool_options(workers: int | None) -> argparse.ArgumentParser:
    """How evaluation (and generation) spread over processes."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--search",
        choices=("patchmatch", "exact"),
        default="patchmatch",
        help="coherence/completeness search: PatchMatch checked by exact search on a sample "
        "(a few %% error, about 4x faster), or exact (default: patchmatch)",
    )
    p.add_argument(
        "--workers", type=int, default=workers, help="worker processes (default: one per core)"
    )
    p.add_argument("--threads-per-worker", type=int, help="torch threads per worker")
    return p


def _add_metrics(sub: argparse._SubParsersAction) -> None:
    cache = argparse.ArgumentParser(add_help=False)
    cache.add_argument(
        "--cache", type=Path, help="weights folder (default: $DROPGAN_CACHE or ~/.cache/dropgan)"
    )
    cache.add_argument("--quiet", action="store_true", help="no progress output")
    p = sub.add_parser(
        "setup-metrics",
        parents=[cache],
        help="fetch the weights SIFID, NIQE and LPIPS need (once)",
        description="Fetch, check (sha256) and extract the metric weights into "
        "the cache folder. Idempotent.",
    )
    p.set_defaults(run=_cmd_setup_metrics)
    p = sub.add_parser(
        "eval",
        parents=[cache, _pool_options(1)],
        help="evaluate generated images against reals",
        description="Pair FAKE/stem_i.png with REAL/stem.* and measure SIFID, "
        "NIQE, coherence, completeness and diversity.",
    )
    p.add_argument("--real", type=Path, required=True, help="folder of source images")
    p.add_argument("--fake", type=Path, required=True, help="folder of generated images")
    p.add_argument("--out", type=Path, help="write results.md, results.csv and plots here")
    p.add_argument("--force", action="store_true", help="overwrite existing results")
    p.add_argument(
        "--patch-size",
        type=int,
        default=7,
        help="patch side for coherence and completeness (default: 7)",
    )
    p.add_argument("--metrics", help="comma-separated subset, e.g. coherence,completeness")
    p.add_argument(
        "--max-queries",
        type=_max_queries,
        default=10_000,
        help="with --search exact: patches sampled per image for coherence/completeness, "
        "or 'all' (default: 10000)",
    )
    p.set_defaults(run=_cmd_eval)
    p = sub.add_parser(
        "reproduce",
        parents=[
            cache,
            _engine_options("generate", exclude=frozenset({"nn"})),
            _pool_options(None),
        ],
        help="generate samples of a whole image set and write a results page",
        description="Generate samples of every image in IMAGES for each run, "
        "measure them and any reference sets, and write a markdown page.",
    )
    p.add_argument("--images", type=Path, required=True, help="folder of source images")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("out/reproduce"),
        help="samples and results go here (default: out/reproduce)",
    )
    p.add_argument("--page", type=Path, help="results page (default: OUT/results.md)")
    p.add_argument(
        "--run",
        dest="runs",
        action="append",
        help="a run as engine=,nn=,sigma=,samples= (repeatable; overrides the four options below)",
    )
    p.add_argument("--nn", action="append", help="search backend (repeatable)")
    p.add_argument("--sigma", action="append", type=float, help="noise level (repeatable)")
    p.add_argument("--samples", type=int, default=4, help="samples per image (default: 4)")
    p.add_argument(
        "--reference", action="append", help="NAME=DIR of reference outputs stem.png (repeatable)"
    )
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    p.add_argument("--levels", type=int, help="pyramid depth N (default: the engine's rule)")
    p.add_argument("--metrics", help="comma-separated subset, e.g. coherence,completeness")
    p.add_argument(
        "--max-queries",
        type=_max_queries,
        default=10_000,
        help="patches sampled per image for coherence/completeness, or 'all'",
    )
    p.add_argument("--force", action="store_true", help="regenerate and overwrite")
    p.add_argument(
        "--ray",
        nargs="?",
        const=True,
        metavar="ADDRESS",
        help="run on Ray: a local one, or the cluster at ADDRESS (pip install 'dropgan[ray]')",
    )
    p.set_defaults(run=_cmd_reproduce)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dropgan",
        description="Single-image generative modelling by patch "
        "nearest neighbours (GPNN, 'Drop the GAN') and friends.",
    )
    parser.add_argument("--version", action="version", version=f"dropgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (
        _add_generate,
        _add_train,
        add_batch_command,
        _add_retarget,
        _add_analogy,
        _add_inpaint,
        _add_collage,
        add_edit_command,
        add_superres_command,
        add_denoise_command,
        add_paint2image_command,
        add_harmonize_command,
        add_animate_command,
        _add_metrics,
        add_ui_command,
    ):
        add(sub)
    return parser


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"dropgan: note: {message}", file=sys.stderr)


#: The file stem of outputs made from an image read from standard input.
STDIN_STEM = "stdin"

#: The arguments that name one input image, or ``-`` for standard input.
_IMAGE_ARGS = ("input", "source", "structure", "mask", "original", "edited", "inputs")


def _read_stdin(args: argparse.Namespace) -> None:
    """Replace an image argument ``-`` by the image read from standard input (once)."""
    dashes: list[tuple[str, int]] = []
    for name in _IMAGE_ARGS:
        value = getattr(args, name, None)
        values = value if isinstance(value, list) else [value]
        dashes += [(name, i) for i, v in enumerate(values) if v == "-"]
    if not dashes:
        return
    if len(dashes) > 1:
        raise InputError("only one input can be read from standard input (-)")
    try:
        image = Image.open(io.BytesIO(sys.stdin.buffer.read()))
        image.load()
    except (OSError, ValueError, SyntaxError):
        raise InputError("standard input holds no image Pillow can read") from None
    name, i = dashes[0]
    if name == "inputs":
        args.inputs[i] = image
    else:
        setattr(args, name, image)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dropgan`` command; returns the exit status."""
    previous = signal.signal(signal.SIGTERM, _terminate)  # a kill is cleaned up like Ctrl-C
    try:
        # the warning settings of a run (one-line notes, --quiet) end with it: a caller that
        # runs main() in its own process (tests, the web app's checks) keeps its own
        with warnings.catch_warnings():
            return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _one_line_warnings
    if getattr(args, "quiet", False):
        warnings.simplefilter("ignore")
    try:
        _read_stdin(args)
        return args.run(args)
    except DropganError as e:
        print(f"dropgan: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dropgan: interrupted", file=sys.stderr)
        return 130
    except (MemoryError, torch.OutOfMemoryError):
        print(
            "dropgan: error: out of memory: use a smaller image, output or --memory-budget",
            file=sys.stderr,
        )
        return 2
    except OSError as e:  # disk full, a file vanished, ...: the library's own are OutputErrors
        print(f"dropgan: error: {e.strerror or e}", file=sys.stderr)
        return 2
    except Exception as e:
        if os.environ.get("DROPGAN_DEBUG"):
            raise
        print(
            f"dropgan: internal error: {type(e).__name__}: {e} "
            "(please report it; DROPGAN_DEBUG=1 shows where)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
