"""The ``dropgan`` command: a thin layer that parses, calls the public API and reports.

Every failure a user can cause ends as one ``dropgan: error: ...`` line and exit status 2,
with nothing written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from . import __version__
from .errors import DropganError, InputError, OutputError
from .examples import EXAMPLES, example
from .image import write_image
from .tasks import analogy, collage, edit, inpaint, retarget

Output = tuple[str, torch.Tensor, dict[str, object]]


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


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return v


def _budget(text: str) -> int:
    """'1G', '512M', '1048576' -> bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    try:
        return int(float(t[:-1]) * units[t[-1]]) if t[-1:] in units else int(t)
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(
            f"expected bytes such as 512M or 2G, got {text!r}"
        ) from None


def _run_options() -> argparse.ArgumentParser:
    """Options every synthesis command shares."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("output and run")
    g.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: out)")
    g.add_argument("--force", action="store_true", help="overwrite existing files")
    g.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    g.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    g.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    g.add_argument(
        "--nn",
        help="nearest-neighbour backend: exact, patchmatch "
        "(default: exact on a GPU, patchmatch on a CPU)",
    )
    g.add_argument(
        "--memory-budget", type=_budget, help="bytes for exact search tiles (default 1G)"
    )
    return p


def _gpnn_options(alpha: float | None = None) -> argparse.ArgumentParser:
    """GPNN's parameters; None means the task's default."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("GPNN parameters")
    g.add_argument(
        "--alpha",
        type=_positive_float,
        default=alpha,
        help="completeness knob; inf = plain MSE (default: the task's)",
    )
    g.add_argument("--patch-size", type=int, help="patch side p, odd (default: 7)")
    g.add_argument("--ratio", type=float, help="pyramid downscaling factor r (default: 0.75)")
    g.add_argument("--levels", type=int, help="pyramid depth N (default: the task's rule)")
    g.add_argument("--iters", type=int, help="PNN steps per level (default: 10)")
    g.add_argument("--coarsest-iters", type=int, help="PNN steps at the coarsest level")
    g.add_argument(
        "--blend-sigma",
        type=_positive_float,
        help="Gaussian weight of overlapping patches, px (default: 7)",
    )
    return p


def _engine_options() -> argparse.ArgumentParser:
    """The engine choice and GPDM's own parameters."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("engine")
    g.add_argument(
        "--engine",
        choices=("gpnn", "gpdm"),
        default="gpnn",
        help="gpnn (patch nearest neighbours, default) or gpdm (patch-distribution matching)",
    )
    g.add_argument("--steps", type=int, help="gpdm: most Adam steps per level")
    g.add_argument("--lr", type=_positive_float, help="gpdm: Adam learning rate")
    g.add_argument("--projections", type=int, help="gpdm: random projections per step")
    g.add_argument(
        "--finest-steps",
        type=int,
        help="gpdm: work budget per level, in steps at the finest level; 0 for none, as the "
        "authors (default: 50)",
    )
    g.add_argument(
        "--tol",
        type=float,
        help="gpdm: stop a level when the loss of the last 20 steps fell by less than this "
        "fraction; 0 runs every level to its budget, as the authors (default: 0.05)",
    )
    return p


_GPDM_KEYS = ("steps", "lr", "projections", "finest_steps", "tol")
_GPNN_KEYS = ("alpha", "patch_size", "ratio", "levels", "iters", "coarsest_iters", "blend_sigma")
_RUN_KEYS = ("seed", "device", "nn", "memory_budget")


def _api_kwargs(args: argparse.Namespace) -> dict[str, object]:
    keys = ("engine",) + _GPNN_KEYS + _RUN_KEYS + _GPDM_KEYS
    kw = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if kw.get("engine") == "gpnn":
        del kw["engine"]  # the default; tasks without an engine choice do not take it
    kw["progress"] = not args.quiet
    return kw


def _input(args: argparse.Namespace) -> tuple[object, str]:
    if args.example:
        return example(args.example), args.example
    if args.input is None:
        raise InputError("give an input image (or --example NAME)")
    return args.input, Path(args.input).stem


def _cmd_generate(args: argparse.Namespace) -> list[Output]:
    from .tasks.generation import generate

    src, stem = _input(args)
    kw = _api_kwargs(args)
    samples = generate(src, args.n, size=args.size, scale=args.scale, sigma=args.sigma, **kw)
    meta = {"task": "generate", "source": str(src), "sigma": args.sigma, **kw}
    return [(f"{stem}_{i}.png", y, {**meta, "sample": i}) for i, y in enumerate(samples)]


def _open_outputs(args: argparse.Namespace, names: Sequence[str]) -> bool:
    """Fail before any work when an output cannot be written; returns whether the output
    folder was created (so that a failed run can remove it again)."""
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise OutputError(f"output folder {out} is a file")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create output folder {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {out} is not writable")
    if not args.force:
        for name in names:
            if (out / name).exists():
                if created:
                    out.rmdir()
                raise OutputError(f"{out / name} exists (use --force to overwrite)")
    return created


def _write(args: argparse.Namespace, outputs: Sequence[Output]) -> list[Path]:
    paths = []
    for name, image, meta in outputs:
        meta = {"dropgan": __version__, **meta}
        text = {"dropgan:params": json.dumps(meta, default=str, sort_keys=True)}
        paths.append(write_image(image, args.out / name, text, force=True))
    return paths


def _image_command(
    produce: Callable[[argparse.Namespace], list[Output]],
    names: Callable[[argparse.Namespace], list[str]],
) -> Callable[[argparse.Namespace], int]:
    """A command that makes images: outputs checked before the work, written atomically after."""

    def run(args: argparse.Namespace) -> int:
        start = time.perf_counter()
        created = _open_outputs(args, names(args))
        try:
            paths = _write(args, produce(args))
        except BaseException:
            if created and not any(args.out.iterdir()):
                args.out.rmdir()
            raise
        if not args.quiet:
            print(
                f"dropgan: wrote {len(paths)} image(s) to {args.out}/ in "
                f"{time.perf_counter() - start:.1f} s",
                file=sys.stderr,
            )
        return 0

    return run


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        parents=[_engine_options(), _gpnn_options(), _run_options()],
        help="random samples of one image at any size",
        description="Random samples with the patch distribution of INPUT.",
    )
    p.add_argument("input", nargs="?", help="source image")
    p.add_argument("--example", choices=EXAMPLES, help="use a built-in example image")
    p.add_argument("-n", type=int, default=1, help="number of samples (default: 1)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", type=_size, help="output size WxH (default: the input's)")
    size.add_argument("--scale", type=_scale, help="output size as F or SXxSY times the input's")
    p.add_argument(
        "--sigma",
        type=float,
        default=0.75,
        help="noise at the coarsest level (diversity; default: 0.75)",
    )
    names = lambda a: [f"{_input(a)[1]}_{i}.png" for i in range(max(a.n, 0))]  # noqa: E731
    p.set_defaults(run=_image_command(_cmd_generate, names))


def _stem(path: str) -> str:
    return Path(path).stem


def _task_epilog(defaults: dict[str, object], depth: str) -> str:
    """The task's own defaults, which the shared GPNN option help cannot show."""
    given = " ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in defaults.items())
    return f"Defaults for this task: {given}; --levels: {depth}."


def _cmd_retarget(args: argparse.Namespace) -> list[Output]:
    kw = _api_kwargs(args)
    y = retarget.retarget(args.input, args.size, scale=args.scale, max_step=args.max_step, **kw)
    meta = {"task": "retarget", "source": args.input, "size": tuple(y.shape[-2:]), **kw}
    return [(_retarget_names(args)[0], y, meta)]


def _retarget_names(args: argparse.Namespace) -> list[str]:
    return [f"{_stem(args.input)}_retarget.png"]


def _add_retarget(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "retarget",
        parents=[_engine_options(), _gpnn_options(), _run_options()],
        help="resize an image to any size or aspect ratio, keeping its elements' size",
        description="Retarget INPUT to another size, keeping its patch distribution.",
        epilog=_task_epilog(
            retarget.DEFAULTS, "the input's smaller side about 4 patches at the coarsest"
        ),
    )
    p.add_argument("input", help="source image")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--size", type=_size, help="target size WxH")
    size.add_argument("--scale", type=_scale, help="target size as F or SXxSY times the input's")
    p.add_argument(
        "--max-step",
        type=float,
        default=1.3,
        help="largest change of either axis per gradual step (default: 1.3)",
    )
    p.set_defaults(run=_image_command(_cmd_retarget, _retarget_names))


def _cmd_analogy(args: argparse.Namespace) -> list[Output]:
    kw = _api_kwargs(args)
    y = analogy.analogy(args.source, args.structure, refine=args.refine, **kw)
    meta = {"task": "analogy", "source": args.source, "structure": args.structure, **kw}
    return [(_analogy_names(args)[0], y, {**meta, "refine": args.refine})]


def _analogy_names(args: argparse.Namespace) -> list[str]:
    return [f"{_stem(args.source)}_{_stem(args.structure)}_analogy.png"]


def _add_analogy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analogy",
        parents=[_gpnn_options(), _run_options()],
        help="the look of one image in the layout of another (also sketch-to-image)",
        description="Structural analogy: an image with the patches of --source laid out "
        "like --structure (a photo or a sketch); the output has the structure's size.",
        epilog=_task_epilog(analogy.DEFAULTS, "the smaller image's smaller side about 8 patches"),
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


def _cmd_inpaint(args: argparse.Namespace) -> list[Output]:
    kw = _api_kwargs(args)
    y = inpaint.inpaint(args.input, args.mask, steer=args.steer, **kw)
    meta = {"task": "inpaint", "source": args.input, "mask": args.mask, "steer": args.steer}
    return [(_inpaint_names(args)[0], y, {**meta, **kw})]


def _inpaint_names(args: argparse.Namespace) -> list[str]:
    return [f"{_stem(args.input)}_inpaint.png"]


def _add_inpaint(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inpaint",
        parents=[_gpnn_options(), _run_options()],
        help="fill a hole, steered by the colour it is painted with",
        description="Conditional inpainting: fill the hole of INPUT marked by --mask "
        "(white on black) with INPUT's own patches; the colour the hole is painted with "
        "steers the fill.",
        epilog=_task_epilog(inpaint.DEFAULTS, "the hole about one patch"),
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


def _cmd_collage(args: argparse.Namespace) -> list[Output]:
    kw = _api_kwargs(args)
    y = collage.collage(args.inputs, args.size, **kw)
    meta = {"task": "collage", "sources": args.inputs, **kw}
    return [(_collage_names(args)[0], y, meta)]


def _collage_names(args: argparse.Namespace) -> list[str]:
    return [f"{_stem(args.inputs[0])}_collage.png"]


def _add_collage(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "collage",
        parents=[_gpnn_options(), _run_options()],
        help="merge several images into one that keeps all their patches",
        description="Collage: merge the INPUTS (heights within a factor 2) seamlessly into "
        "one image, starting from them side by side.",
        epilog=_task_epilog(retarget.DEFAULTS, "the smallest input's smaller side about 4 patches"),
    )
    p.add_argument("inputs", nargs="+", help="two or more images")
    p.add_argument("--size", type=_size, help="output size WxH (default: side by side)")
    p.set_defaults(run=_image_command(_cmd_collage, _collage_names))


def _cmd_edit(args: argparse.Namespace) -> list[Output]:
    kw = _api_kwargs(args)
    outs = edit.edit(args.original, args.edited, args.n, sigma=args.sigma, **kw)
    meta = {"task": "edit", "source": args.original, "edited": args.edited, **kw}
    names = _edit_names(args)
    return [
        (name, y, {**meta, "sigma": args.sigma, "sample": i})
        for i, (name, y) in enumerate(zip(names, outs, strict=True))
    ]


def _edit_names(args: argparse.Namespace) -> list[str]:
    stem = f"{_stem(args.edited)}_edit"
    return [f"{stem}.png"] if args.n == 1 else [f"{stem}_{i}.png" for i in range(max(args.n, 0))]


def _add_edit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "edit",
        parents=[_gpnn_options(), _run_options()],
        help="blend a rough edit (moved, added, removed objects) into the image",
        description="Editing: redraw EDITED, a naive edit of ORIGINAL, with ORIGINAL's "
        "patches so that the edit blends in.",
        epilog=_task_epilog(edit.DEFAULTS, "the largest edited region about 1.5 patches"),
    )
    p.add_argument("original", help="the image before the edit")
    p.add_argument("edited", help="the naively edited image, the same size")
    p.add_argument("-n", type=int, default=1, help="number of variants (default: 1)")
    p.add_argument(
        "--sigma",
        type=float,
        default=0.0,
        help="noise at the coarsest level, for variants (default: 0)",
    )
    p.set_defaults(run=_image_command(_cmd_edit, _edit_names))


def _cmd_setup_metrics(args: argparse.Namespace) -> int:
    from .metrics import setup_metrics

    folder = setup_metrics(cache_dir=args.cache, quiet=args.quiet)
    print(folder)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .metrics import evaluate_folders, markdown_table

    metrics = None if args.metrics is None else [m for m in args.metrics.split(",") if m]
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
    metrics = None if args.metrics is None else [m for m in args.metrics.split(",") if m]
    params = {k: getattr(args, k) for k in _GPNN_KEYS + _GPDM_KEYS if getattr(args, k) is not None}
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
        parents=[cache],
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
        help="patches sampled per image for coherence/completeness, or 'all' (default: 10000)",
    )
    p.set_defaults(run=_cmd_eval)
    p = sub.add_parser(
        "reproduce",
        parents=[cache, _engine_options(), _gpnn_options()],
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
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    p.add_argument("--metrics", help="comma-separated subset, e.g. coherence,completeness")
    p.add_argument(
        "--max-queries",
        type=_max_queries,
        default=10_000,
        help="patches sampled per image for coherence/completeness, or 'all'",
    )
    p.add_argument("--force", action="store_true", help="regenerate and overwrite")
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
        _add_retarget,
        _add_analogy,
        _add_inpaint,
        _add_collage,
        _add_edit,
        _add_metrics,
    ):
        add(sub)
    return parser


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"dropgan: note: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dropgan`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    warnings.showwarning = _one_line_warnings
    try:
        return args.run(args)
    except DropganError as e:
        print(f"dropgan: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dropgan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
