"""SinGAN's quality on SIGD16 images, at a size a CPU can train, beside SinGAN's published
outputs and GPNN at the same size.

For each image: a SinGAN trained with ``--schedule`` (default ``fast``) at ``--max-size``
px and ``--iters`` iterations per scale (seed 0; the model folder is kept in ``--out`` and
reused, so a rerun only measures), ``--samples`` samples of it, ``--samples`` GPNN samples of
the same downscaled image, and the SinGAN output published for the image
(``../shared/images/reference/sigd16_singan``, 250 px) downscaled to the same size. All are
written as 8-bit PNG and read back, then measured against the downscaled image with
``bench_keys.measure`` (SIFID, coherence, completeness, mean absolute difference to the
input, pixel diversity; NIQE needs at least two 96 px blocks, so none below ~200 px).

    OMP_NUM_THREADS=1 python benchmarks/bench_singan_quality.py --out out/singan_quality
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from bench_keys import SHARED, measure

import dropgan
from dropgan.pyramid import resize

COLUMNS = ("sifid", "coherence", "completeness", "mad", "diversity")


def _png(image: torch.Tensor, path: Path) -> torch.Tensor:
    """``image`` as the 8-bit PNG it is saved as."""
    dropgan.write_image(image.clamp(0, 1), path, force=True)
    return dropgan.read_image(path)


def _model(stem: str, args: argparse.Namespace) -> tuple[object, float | None]:
    """The trained model of ``stem`` (reused from ``--out`` if complete) and the wall
    seconds its training took in this run (None if reused)."""
    folder = args.out / f"{stem}.model"
    if (folder / "config.json").exists():
        model = dropgan.engines.singan.load_model(folder, "cpu")
        if model.complete:
            return model, None
    start = time.perf_counter()
    model = dropgan.train(
        SHARED / "sigd16" / f"{stem}.jpg",
        out=folder,
        resume=folder.exists(),
        schedule=args.schedule,
        max_size=args.max_size,
        iters=args.iters,
        seed=0,
        device="cpu",
        progress=True,
    )
    return model, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stems", nargs="+", default=["3", "5", "7"])
    ap.add_argument("--schedule", default="fast")
    ap.add_argument("--max-size", type=int, default=64)
    ap.add_argument("--iters", type=int, default=500)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-queries", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path("out/singan_quality"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    times = {}  # wall seconds of each training, kept beside its model (runs may be parallel)
    rows: dict[str, list[dict]] = {
        "SinGAN (ours)": [],
        "SinGAN (published, resized)": [],
        "GPNN": [],
    }
    for stem in args.stems:
        model, seconds = _model(stem, args)
        timing = args.out / f"{stem}.train_seconds.json"
        if seconds is not None:
            timing.write_text(json.dumps(seconds))
        if timing.exists():
            times[stem] = json.loads(timing.read_text())
        size = tuple(model.size)
        source = _png(
            resize(dropgan.read_image(SHARED / "sigd16" / f"{stem}.jpg"), size),
            args.out / f"{stem}_input.png",
        )
        ours = dropgan.generate(model=model, n=args.samples, seed=0, device="cpu")
        gpnn = dropgan.generate(source, n=args.samples, seed=0, device="cpu")
        ref = dropgan.read_image(SHARED / "reference" / "sigd16_singan" / f"{stem}.png")
        sets = {
            "SinGAN (ours)": [
                _png(x, args.out / f"{stem}_singan_{i}.png") for i, x in enumerate(ours)
            ],
            "SinGAN (published, resized)": [
                _png(resize(ref, size), args.out / f"{stem}_published.png")
            ],
            "GPNN": [_png(x, args.out / f"{stem}_gpnn_{i}.png") for i, x in enumerate(gpnn)],
        }
        for name, samples in sets.items():
            rows[name].append(measure(source, samples, args.max_queries))
        minutes = times.get(stem, float("nan")) / 60
        print(f"{stem}: {size[1]}x{size[0]} px, trained in {minutes:.1f} min", flush=True)

    print(
        f"\nSIGD16 {', '.join(args.stems)}; SinGAN {args.schedule} schedule at "
        f"{args.max_size} px, {args.iters} iterations per scale, seed 0; {args.samples} samples "
        "per image (the published SinGAN output: one); 8-bit PNG; coherence and completeness "
        "x1e-3\n"
    )
    print("| set | SIFID | coherence | completeness | mean abs. diff. to input | diversity |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, per_image in rows.items():
        cells = []
        for col in COLUMNS:
            vals = [r[col] for r in per_image if r[col] is not None]
            if not vals:
                cells.append("—")
                continue
            v = sum(vals) / len(vals)
            cells.append(f"{v * 1e3:.3f}" if col in ("coherence", "completeness") else f"{v:.3f}")
        print(f"| {name} | {' | '.join(cells)} |")
    if times:
        mean = sum(times.values()) / len(times)
        print(f"\ntraining wall time per image: {mean / 60:.1f} min (one thread)")


if __name__ == "__main__":
    main()
