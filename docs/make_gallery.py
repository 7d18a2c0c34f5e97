"""Make the task gallery: one sheet per task under docs/gallery/, inputs | output, labelled.

Runs random generation, retargeting, structural analogy (and sketch-to-image), conditional
inpainting, collage and editing on the GPNN authors' task examples and the structural-analogy
pairs in ../shared/images, with each task's defaults and the default search backend; and GPNN
beside GPDM ("engines") on generation, retargeting and texture synthesis.

    .venv/bin/python docs/make_gallery.py                      # everything (minutes on a CPU)
    .venv/bin/python docs/make_gallery.py --tasks inpaint --max-side 96 --nn exact
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image, ImageDraw

import dropgan
from dropgan.image import read_image, read_mask, to_pil
from dropgan.pyramid import mask_pyramid, resize

DOCS = Path(__file__).resolve().parent
IMAGES = DOCS.parents[1] / "shared" / "images"
PANEL_HEIGHT = 220
LABEL_HEIGHT = 18
GAP = 6

Row = list[tuple[str, torch.Tensor]]


def _shrunk_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    h, w = size
    if max_side is None or max(h, w) <= max_side:
        return h, w
    f = max_side / max(h, w)
    return max(1, round(h * f)), max(1, round(w * f))


class Inputs:
    """The shared images, shrunk to ``max_side`` pixels for a quick run."""

    def __init__(self, root: Path, max_side: int | None) -> None:
        self.root, self.max_side = root, max_side

    def image(self, name: str) -> torch.Tensor:
        x = read_image(self.root / name, name)
        return resize(x, _shrunk_size(tuple(x.shape[-2:]), self.max_side)).clamp(0, 1)

    def mask(self, name: str) -> torch.Tensor:
        m = read_mask(self.root / name, name)
        # shrunk conservatively, so that it still covers the shrunk image's painted hole
        return mask_pyramid(m, [_shrunk_size(tuple(m.shape), self.max_side)])[0]


def generate(inp: Inputs, run: dict) -> list[Row]:
    rows = []
    for name in ("singan/Images/balloons.png", "sigd16/1.jpg"):
        x = inp.image(name)
        samples = dropgan.generate(x, n=3, **run)
        wide = dropgan.generate(x, size=(x.shape[-2], round(x.shape[-1] * 1.6)), **run)
        rows.append(
            [
                ("input", x),
                *((f"sample {i + 1}", y) for i, y in enumerate(samples)),
                ("sample, 1.6x wider", wide[0]),
            ]
        )
    return rows


def retarget(inp: Inputs, run: dict) -> list[Row]:
    x = inp.image("tasks/editing_stone.png")
    wider = dropgan.retarget(x, scale=(1.0, 1.6), **run).image
    narrower = dropgan.retarget(x, scale=(1.0, 0.6), **run).image
    return [[("input", x), ("wider x1.6", wider), ("narrower x0.6", narrower)]]


def analogy(inp: Inputs, run: dict) -> list[Row]:
    rows = []
    pairs = [
        ("analogy/209.jpg", "analogy/208.jpg", "analogy"),
        (
            "tasks/structural_analogy_snow_real_a.jpeg",
            "tasks/structural_analogy_snow_real_b.jpeg",
            "analogy",
        ),
        ("analogy/309.png", "analogy/308.png", "sketch-to-image"),
    ]
    for a_name, b_name, what in pairs:
        a, b = inp.image(a_name), inp.image(b_name)
        y = dropgan.analogy(a, b, **run).image
        rows.append([("A: source (patches)", a), ("B: structure (layout)", b), (what, y)])
    return rows


def inpaint(inp: Inputs, run: dict) -> list[Row]:
    x = inp.image("tasks/conditional_inpainting_balloons_in_blue.png")
    hole = inp.mask("tasks/conditional_inpainting_mask.png")
    # painted for sure; and shrunk with --max-side, its blurred rim would fail steer="auto"
    y = dropgan.inpaint(x, hole, steer="painted", **run).image
    shown = hole.float()[None].expand(3, -1, -1)
    return [[("input (hole painted)", x), ("mask", shown), ("conditional inpainting", y)]]


def collage(inp: Inputs, run: dict) -> list[Row]:
    xs = [inp.image(f"analogy/{n}.jpg") for n in ("204", "205", "209")]
    y = dropgan.collage(xs, **run).image
    return [[*((f"input {i + 1}", x) for i, x in enumerate(xs)), ("collage", y)]]


def edit(inp: Inputs, run: dict) -> list[Row]:
    x = inp.image("tasks/editing_stone.png")
    e = inp.image("tasks/editing_stone_editted.png")
    (y,) = dropgan.edit(x, e, **run)
    return [[("original", x), ("naive edit", e), ("edit", y)]]


def engines(inp: Inputs, run: dict) -> list[Row]:
    """GPNN beside GPDM, each with its defaults, on what both do: a random sample, a
    retargeted image and a texture at twice its size."""
    gpdm = {k: v for k, v in run.items() if k != "nn"} | {"engine": "gpdm"}
    rows = []
    x = inp.image("sigd16/3.jpg")
    rows.append(
        [("input", x)]
        + [(f"{name}: sample", dropgan.generate(x, **kw)[0]) for name, kw in _both(run, gpdm)]
    )
    x = inp.image("tasks/editing_stone.png")
    rows.append(
        [("input", x)]
        + [
            (f"{name}: wider x1.6", dropgan.retarget(x, scale=(1.0, 1.6), **kw).image)
            for name, kw in _both(run, gpdm)
        ]
    )
    x = inp.image("textures/cobbles.jpeg")
    rows.append(
        [("input", x)]
        + [
            (f"{name}: 2x texture", dropgan.generate(x, scale=2.0, **kw)[0])
            for name, kw in _both(run, gpdm)
        ]
    )
    return rows


#: SinGAN on a CPU is slow: the gallery's model is the fast schedule, small and short
#: (override with the environment variables below for a faithful one on a GPU).
SINGAN = {
    "schedule": "fast",
    "max_size": int(os.environ.get("GALLERY_SINGAN_SIZE", 96)),
    "iters": int(os.environ.get("GALLERY_SINGAN_ITERS", 150)),
}


def singan(inp: Inputs, run: dict) -> list[Row]:
    """SinGAN trained on one image (the fast schedule, see :data:`SINGAN`), its samples at
    the training size and 1.5x wider, beside GPNN's at the same size."""
    x = inp.image("sigd16/3.jpg")
    device = run.get("device")
    model = dropgan.train(x, seed=0, device=device, progress=run["progress"], **SINGAN)
    samples = dropgan.generate(model=model, n=2, seed=1, device=device)
    wide = dropgan.generate(model=model, n=1, seed=2, scale=(1.0, 1.5), device=device)
    small = resize(x, samples[0].shape[-2:]).clamp(0, 1)
    label = f"SinGAN {SINGAN['schedule']}, {SINGAN['max_size']} px, {SINGAN['iters']} it"
    return [
        [("input (training size)", small)]
        + [(f"{label}: sample", y) for y in samples]
        + [("SinGAN: 1.5x wider", wide[0])],
        [("input", small), ("GPNN: sample", dropgan.generate(small, **run)[0])],
    ]


def _both(gpnn: dict, gpdm: dict) -> list[tuple[str, dict]]:
    return [("GPNN", gpnn), ("GPDM", gpdm)]


TASKS: dict[str, Callable[[Inputs, dict], list[Row]]] = {
    "generate": generate,
    "retarget": retarget,
    "analogy": analogy,
    "inpaint": inpaint,
    "collage": collage,
    "edit": edit,
    "engines": engines,
    "singan": singan,
}


def sheet(rows: list[Row]) -> Image.Image:
    """Rows of labelled panels, each panel scaled to a common height."""
    rendered = []
    for row in rows:
        panels = []
        for label, image in row:
            pil = to_pil(image)
            w = round(pil.width * PANEL_HEIGHT / pil.height)
            panel = Image.new("RGB", (w, PANEL_HEIGHT + LABEL_HEIGHT), "white")
            panel.paste(pil.resize((w, PANEL_HEIGHT), Image.LANCZOS), (0, LABEL_HEIGHT))
            ImageDraw.Draw(panel).text((3, 3), label, fill="black")
            panels.append(panel)
        rendered.append(panels)
    width = max(sum(p.width for p in row) + GAP * (len(row) - 1) for row in rendered)
    height = len(rendered) * (PANEL_HEIGHT + LABEL_HEIGHT) + GAP * (len(rendered) - 1)
    out = Image.new("RGB", (width, height), "white")
    y = 0
    for row in rendered:
        x = 0
        for panel in row:
            out.paste(panel, (x, y))
            x += panel.width + GAP
        y += PANEL_HEIGHT + LABEL_HEIGHT + GAP
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=DOCS / "gallery", help="output folder")
    parser.add_argument("--images", type=Path, default=IMAGES, help="the shared images folder")
    parser.add_argument("--nn", help="search backend (default: the library's default)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    parser.add_argument(
        "--max-side", type=int, help="shrink inputs to this many px, for a quick run"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    run: dict = {"device": args.device, "progress": not args.quiet}
    if args.nn is not None:
        run["nn"] = args.nn
    inputs = Inputs(args.images, args.max_side)
    args.out.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        start = time.perf_counter()
        path = args.out / f"{task}.png"
        sheet(TASKS[task](inputs, run)).save(path)
        print(f"{path}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
