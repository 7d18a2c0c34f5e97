"""Make the task gallery: one sheet per task under docs/gallery/, inputs | output, labelled.

Runs random generation, retargeting, structural analogy (and sketch-to-image), conditional
inpainting, collage and editing on the GPNN authors' task examples and the structural-analogy
pairs in ../shared/images, with each task's defaults and the default search backend; GPNN
beside GPDM ("engines") on generation, retargeting and texture synthesis; a small SinGAN
("singan"); and SinGAN's applications with GPNN on its authors' inputs: super-resolution x4
beside bicubic on Set5's butterfly and denoising at sigma 25/255 beside non-local means on
Set14's flowers, both with PSNR against the ground truth in the labels ("superres",
"denoise"), paint-to-image ("paint2image"), harmonization ("harmonize") and editing
("singan_edit"); and every fourth frame of an animation ("animate"). The restoration pairs
are read at full size (``--max-side`` would break the super-resolution pair; denoising
shrinks the clean image before adding the noise).

    .venv/bin/python docs/make_gallery.py                      # everything (minutes on a CPU)
    .venv/bin/python docs/make_gallery.py --tasks inpaint --max-side 96 --nn exact
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

import dropgan
from dropgan.image import read_image, read_mask, to_pil
from dropgan.metrics.restoration import psnr
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


def _applications(run: dict) -> list[tuple[str, dict]]:
    """The engines that SinGAN's applications are shown with, one row each: a label and the
    keyword arguments of the task's call. A SinGAN row is one more pair here."""
    return [("GPNN", run)]


#: Super-resolution: Set5's butterfly (x4 bicubic LR and its HR truth), and the part of the
#: HR image shown, (top, left, height, width): 110 px, shown at 2x with nearest neighbours
#: so that the pixels show (the sheet's panels are 220 px high).
SR_IMAGE, SR_CROP, SR_FACTOR = "sr/set5/img_003_SRF_4", (70, 20, 110, 150), 4


def _zoom(image: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """The ``(top, left, height, width)`` part of ``image``, enlarged with nearest neighbours
    to the panel height (no resampling: each pixel stays a sharp block)."""
    top, left, h, w = box
    part = image[:, top : top + h, left : left + w]
    k = max(1, PANEL_HEIGHT // h)
    return part.repeat_interleave(k, dim=-2).repeat_interleave(k, dim=-1)


def _restoration_bench():
    """benchmarks/bench_restoration.py, whose noise level and non-local means baseline the
    gallery reuses (it is a script, not a package)."""
    path = DOCS.parent / "benchmarks" / "bench_restoration.py"
    spec = importlib.util.spec_from_file_location("bench_restoration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def superres(inp: Inputs, run: dict) -> list[Row]:
    """x4 super-resolution of a Set5 image: the low-resolution input (its pixels as blocks),
    bicubic, each engine and the truth, with PSNR on Y, 4 border pixels cropped (the SR
    protocol, :mod:`dropgan.metrics.restoration`), over the whole image."""
    bench = _restoration_bench()  # outputs rounded to 8 bits before measuring, as there
    hr = read_image(inp.root / f"{SR_IMAGE}_HR.png")
    lr = read_image(inp.root / f"{SR_IMAGE}_LR.png")
    size = tuple(hr.shape[-2:])
    nearest = F.interpolate(lr[None], size=size, mode="nearest")[0]
    # torch's bicubic (a = -0.75): the stronger of the two bicubics, the one docs/restoration.md
    # compares GPNN with
    bicubic = bench.eight_bit(
        F.interpolate(lr[None], size=size, mode="bicubic", align_corners=False)[0]
    )

    def db(y: torch.Tensor) -> str:
        return f"{psnr(y, hr, SR_FACTOR):.2f} dB"

    rows = []
    for name, kw in _applications(run):
        y = bench.eight_bit(dropgan.superres(lr, SR_FACTOR, **kw).image)
        rows.append(
            [
                ("low resolution (pixels)", _zoom(nearest, SR_CROP)),
                (f"bicubic x4: {db(bicubic)}", _zoom(bicubic, SR_CROP)),
                (f"{name} superres x4: {db(y)}", _zoom(y, SR_CROP)),
                ("ground truth (PSNR on Y)", _zoom(hr, SR_CROP)),
            ]
        )
    return rows


#: Denoising: Set14's flowers, its noise drawn as benchmarks/bench_restoration.py draws it
#: for this image (seeded by its index in the set), and the part shown at 1:1.
DENOISE_IMAGE, DENOISE_INDEX, DENOISE_CROP = "sr/set14/img_007_SRF_4_HR.png", 6, (60, 150, 220, 260)


def denoise(inp: Inputs, run: dict) -> list[Row]:
    """Gaussian noise of sigma 25/255 removed by non-local means (scikit-image, the
    benchmark's settings) and by each engine (told sigma), with PSNR on RGB against the
    clean image over the whole image; a part is shown at 1:1."""
    bench = _restoration_bench()
    clean = inp.image(DENOISE_IMAGE)
    noisy = bench.noisy_copy(clean, DENOISE_INDEX)
    top, left, h, w = DENOISE_CROP
    h, w = min(h, clean.shape[-2]), min(w, clean.shape[-1])  # a smaller image with --max-side
    box = (min(top, clean.shape[-2] - h), min(left, clean.shape[-1] - w), h, w)

    def db(y: torch.Tensor) -> str:
        return f"{psnr(y, clean, channel='rgb'):.2f} dB"

    nlm = bench.nl_means(noisy)  # None without scikit-image
    nlm = None if nlm is None else bench.eight_bit(nlm)
    baseline = [] if nlm is None else [(f"non-local means: {db(nlm)}", _zoom(nlm, box))]
    rows = []
    for name, kw in _applications(run):
        y = bench.eight_bit(dropgan.denoise(noisy, sigma=bench.SIGMA, **kw).image)
        rows.append(
            [
                (f"noise sigma 25/255: {db(noisy)}", _zoom(noisy, box)),
                *baseline,
                (f"{name} denoise: {db(y)}", _zoom(y, box)),
                ("clean (PSNR on RGB)", _zoom(clean, box)),
            ]
        )
    return rows


def paint2image(inp: Inputs, run: dict) -> list[Row]:
    """SinGAN's paintings (``Input/Paint``) turned into images with its training images'
    patches. ``trees1.png`` is a painting of ``trees3.png`` (same 250 x 167 size and layout;
    SinGAN's README and ``paint2image.py`` do not name the pair)."""
    rows = []
    for source, paint in (("cows", "cows"), ("trees3", "trees1")):
        x = inp.image(f"singan/Images/{source}.png")
        p = inp.image(f"singan/Paint/{paint}.png")
        for name, kw in _applications(run):
            y = dropgan.paint2image(x, p, **kw).image
            rows.append([("source", x), ("painting", p), (f"{name} paint-to-image", y)])
    return rows


def harmonize(inp: Inputs, run: dict) -> list[Row]:
    """SinGAN's harmonization examples (``Input/Harmonization``): the background, the naive
    paste and the harmonized image. The tree is pasted into ``seascape.png`` (same size;
    outside the tree's mask they differ by JPEG noise only, 3.6 of 255 on average)."""
    rows = []
    for background, naive in (
        ("starry_night.png", "starry_night_naive.png"),
        ("seascape.png", "tree.jpg"),
    ):
        bg = inp.image(f"singan/Images/{background}")
        pasted = inp.image(f"singan/Harmonization/{naive}")
        stem, ext = os.path.splitext(naive)
        mask = inp.mask(f"singan/Harmonization/{stem}_mask{ext}")
        for name, kw in _applications(run):
            y = dropgan.harmonize(bg, pasted, mask, **kw).image
            rows.append([("background", bg), ("naive paste", pasted), (f"{name} harmonized", y)])
    return rows


def singan_edit(inp: Inputs, run: dict) -> list[Row]:
    """SinGAN's editing example (``Input/Editing/stone_edit.png``) blended into its original
    by each engine (GPNN finds the edited pixels itself; SinGAN's mask is for SinGAN's
    masked output)."""
    x = inp.image("singan/Images/stone.png")
    e = inp.image("singan/Editing/stone_edit.png")
    return [
        [("original", x), ("naive edit", e), (f"{name} edit", dropgan.edit(x, e, **kw)[0])]
        for name, kw in _applications(run)
    ]


#: The gallery's animation; ``dropgan animate`` with these settings and seed 0 writes the
#: same frames as a GIF (README).
ANIMATION = {"frames": 24, "source": "sigd16/3.jpg"}


def animate(inp: Inputs, run: dict) -> list[Row]:
    """Every fourth frame of an animation (the noise's random walk, GPNN)."""
    x = inp.image(ANIMATION["source"])
    frames = dropgan.animate(x, frames=ANIMATION["frames"], **run)
    return [[("input", x)] + [(f"frame {i}", frames[i]) for i in range(0, len(frames), 4)]]


TASKS: dict[str, Callable[[Inputs, dict], list[Row]]] = {
    "generate": generate,
    "retarget": retarget,
    "analogy": analogy,
    "inpaint": inpaint,
    "collage": collage,
    "edit": edit,
    "engines": engines,
    "singan": singan,
    "superres": superres,
    "denoise": denoise,
    "paint2image": paint2image,
    "harmonize": harmonize,
    "singan_edit": singan_edit,
    "animate": animate,
}

#: Sheets with lower panels, to keep their PNG under about 600 KB for the README (SinGAN's
#: paint-to-image inputs are only 141 and 167 px high anyway).
PANEL_HEIGHTS: dict[str, int] = {"paint2image": 180}


def sheet(rows: list[Row], height: int = PANEL_HEIGHT) -> Image.Image:
    """Rows of labelled panels, each panel scaled to ``height`` px."""
    rendered = []
    for row in rows:
        panels = []
        for label, image in row:
            pil = to_pil(image)
            w = round(pil.width * height / pil.height)
            panel = Image.new("RGB", (w, height + LABEL_HEIGHT), "white")
            panel.paste(pil.resize((w, height), Image.LANCZOS), (0, LABEL_HEIGHT))
            ImageDraw.Draw(panel).text((3, 3), label, fill="black")
            panels.append(panel)
        rendered.append(panels)
    width = max(sum(p.width for p in row) + GAP * (len(row) - 1) for row in rendered)
    total = len(rendered) * (height + LABEL_HEIGHT) + GAP * (len(rendered) - 1)
    out = Image.new("RGB", (width, total), "white")
    y = 0
    for row in rendered:
        x = 0
        for panel in row:
            out.paste(panel, (x, y))
            x += panel.width + GAP
        y += height + LABEL_HEIGHT + GAP
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
        sheet(TASKS[task](inputs, run), PANEL_HEIGHTS.get(task, PANEL_HEIGHT)).save(path)
        print(f"{path}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
