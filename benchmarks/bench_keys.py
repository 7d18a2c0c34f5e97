"""GPNN's key schemes and the authors' recipe on SIGD16, beside the authors' own outputs.

The runs (:data:`RUNS`): GPNN with each key scheme and the authors' recipe, with PatchMatch
and exact search, at the default noise and at less (σ 0.5 and 0.6, for a comparison at the
authors' diversity), and GPDM with each schedule. Makes ``--samples`` samples per image
(seed 0) for each run (one for exact search and GPDM), writes them as 8-bit PNG (the
format of the reference outputs in ``../shared/images/reference``), reads them back and
measures, per image: SIFID, NIQE, coherence and completeness (exact nearest neighbours of
``--max-queries`` random patches), the mean absolute difference to the source (a diversity
measure that needs only one sample), SinGAN's pixel diversity (two or more samples), copies
(samples within one 8-bit level of the source, mean absolute difference) and processor
seconds per sample. Runs with exact search take about 135 s per sample on one core; they
cover the first ``--exact`` images. ``--speed`` instead times one sample per image and
key scheme with PatchMatch, with and without its reuse of settled queries.

Run with ``OMP_NUM_THREADS=1``; samples already in ``--out`` are reused, not remade::

    OMP_NUM_THREADS=1 python benchmarks/bench_keys.py --out out/bench_keys
    OMP_NUM_THREADS=1 python benchmarks/bench_keys.py --out out/bench_keys --speed
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from PIL import Image

import dropgan
from dropgan.metrics import coherence, completeness, niqe, pixel_diversity, sifid
from dropgan.search import patchmatch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "images"
COPY_TOLERANCE = 1 / 255
NIQE_BLOCK = 96

#: name -> parameters of ``dropgan.generate``
RUNS = {
    # our recipe as it was (Gaussian fold weights of 7 px), each key scheme
    "dropgan (sharp keys), patchmatch": {"nn": "patchmatch", "blend_sigma": 7.0},
    "blurred keys, patchmatch": {"nn": "patchmatch", "keys": "blurred", "blend_sigma": 7.0},
    "authors' recipe, patchmatch": {"nn": "patchmatch", "recipe": "authors"},
    "dropgan (sharp keys), exact": {"nn": "exact", "blend_sigma": 7.0},
    "blurred keys, exact": {"nn": "exact", "keys": "blurred", "blend_sigma": 7.0},
    "authors' recipe, exact": {"nn": "exact", "recipe": "authors"},
    # less noise, for a comparison at the diversity of the authors' outputs
    **{
        f"{name}, patchmatch, sigma {sigma}": {"nn": "patchmatch", "sigma": sigma, **params}
        for sigma in (0.5, 0.6)
        for name, params in (
            ("dropgan (sharp keys)", {"blend_sigma": 7.0}),
            ("blurred keys", {"keys": "blurred", "blend_sigma": 7.0}),
            ("authors' recipe", {"recipe": "authors"}),
        )
    },
    # the authors' recipe one ingredient at a time: their fold weights, and their keys
    **{
        f"dropgan (sharp keys), authors' fold weights, patchmatch{tail}": {
            "nn": "patchmatch",
            "blend_sigma": 5.1,
            **params,
        }
        for tail, params in (("", {}), (", sigma 0.5", {"sigma": 0.5}))
    },
    "authors' recipe with sharp keys, patchmatch, sigma 0.5": {
        "nn": "patchmatch",
        "sigma": 0.5,
        "recipe": "authors",
        "keys": "sharp",
    },
    "GPDM, authors' schedule (default)": {"engine": "gpdm"},
    "GPDM, fast schedule": {"engine": "gpdm", "schedule": "fast"},
}
REFERENCES = {
    "authors' GPNN outputs": "reference/sigd16_gpnn",
    "SinGAN outputs": "reference/sigd16_singan",
}


def _stems(images: Path) -> list[str]:
    return sorted((p.stem for p in images.glob("*.jpg")), key=int)


def make_samples(run: str, params: dict, stems, images: Path, out: Path, n: int) -> dict:
    """Samples of ``run`` for ``stems`` (reused if present); processor seconds per sample."""
    folder = out / _slug(run)
    folder.mkdir(parents=True, exist_ok=True)
    seconds = {}
    for stem in stems:
        paths = [folder / f"{stem}_{i}.png" for i in range(n)]
        if all(p.exists() for p in paths):
            continue
        start = time.process_time()
        result = dropgan.generate(images / f"{stem}.jpg", n=n, seed=0, **params)
        seconds[stem] = (time.process_time() - start) / n
        for i, p in enumerate(paths):
            dropgan.write_image(result[i], p, force=True)
        print(f"{run}: {stem} {seconds[stem]:.1f} s/sample", flush=True)
    times = out / f"{_slug(run)}.times.json"
    old = json.loads(times.read_text()) if times.exists() else {}
    times.write_text(json.dumps({**old, **seconds}))
    return {**old, **seconds}


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def measure(source: torch.Tensor, samples: list[torch.Tensor], max_queries: int) -> dict:
    """The measures of one image's samples (means over the samples)."""

    def mean(f):
        return sum(f(s) for s in samples) / len(samples)

    fits = (source.shape[1] // NIQE_BLOCK) * (source.shape[2] // NIQE_BLOCK) >= 2
    mad = [float((s - source).abs().mean()) for s in samples]
    return {
        "sifid": mean(lambda s: sifid(source, s)),
        "niqe": mean(niqe) if fits else None,
        "coherence": mean(lambda s: coherence(s, source, max_queries=max_queries)),
        "completeness": mean(lambda s: completeness(s, source, max_queries=max_queries)),
        "mad": sum(mad) / len(mad),
        "diversity": pixel_diversity(samples, source) if len(samples) > 1 else None,
        "copies": sum(m < COPY_TOLERANCE for m in mad),
        "samples": len(samples),
    }


def evaluate(folder: Path, stems, images: Path, max_queries: int, pattern: str, cache: Path):
    """Measures per image of the samples in ``folder``, kept in ``cache`` (a JSON file) by
    image and sample files, so that a rerun measures only what is new."""
    known = json.loads(cache.read_text()) if cache.exists() else {}
    rows = {}
    for stem in stems:
        paths = sorted(folder.glob(pattern.format(stem=stem)))
        if not paths:
            continue
        key = f"{stem}:{','.join(p.name for p in paths)}:{max_queries}"
        if key not in known:
            source = dropgan.read_image(images / f"{stem}.jpg")
            known[key] = measure(source, [dropgan.read_image(p) for p in paths], max_queries)
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(known))
        rows[stem] = known[key]
    return rows


def summarise(rows: dict, times: dict | None, stems) -> dict:
    keys = ["sifid", "niqe", "coherence", "completeness", "mad", "diversity"]
    chosen = [rows[s] for s in stems if s in rows]
    out = {"images": len(chosen), "samples": chosen[0]["samples"] if chosen else 0}
    for k in keys:
        values = [r[k] for r in chosen if r[k] is not None]
        out[k] = sum(values) / len(values) if values else None
    out["copies"] = sum(r["copies"] for r in chosen)
    spent = [times[s] for s in stems if times and s in times]
    out["seconds"] = sum(spent) / len(spent) if spent else None
    return out


def table(summaries: dict) -> str:
    head = (
        "| run | images | samples/image | mean abs. diff. to source | pixel diversity | copies "
        "| SIFID | NIQE | coherence ×10⁻³ | completeness ×10⁻³ | cpu s/sample |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )

    def f(v, scale=1.0, fmt="{:.3f}"):
        return "—" if v is None else fmt.format(v * scale)

    lines = []
    for name, s in summaries.items():
        lines.append(
            f"| {name} | {s['images']} | {s['samples']} | {f(s['mad'])} | "
            f"{f(s['diversity'])} | {s['copies']} | {f(s['sifid'])} | "
            f"{f(s['niqe'], fmt='{:.2f}')} | "
            f"{f(s['coherence'], 1e3)} | {f(s['completeness'], 1e3)} | "
            f"{f(s['seconds'], fmt='{:.1f}')} |"
        )
    return head + "\n".join(lines) + "\n"


def speed(stems, images: Path) -> str:
    """Processor seconds of one PatchMatch sample per image, per key scheme, with and without
    the reuse of settled queries (disabled by forgetting the last call before each one)."""
    original = patchmatch.PatchMatchSearch.search

    def forgetful(self, *args, **kwargs):
        self._seen = None
        return original(self, *args, **kwargs)

    results: dict[str, list[float]] = {}
    for reuse in (False, True):
        patchmatch.PatchMatchSearch.search = original if reuse else forgetful
        for keys in ("sharp", "blurred"):
            name = f"{keys} keys, reuse {'on' if reuse else 'off'}"
            for stem in stems:
                start = time.process_time()
                dropgan.generate(images / f"{stem}.jpg", seed=1, keys=keys, nn="patchmatch")
                results.setdefault(name, []).append(time.process_time() - start)
    patchmatch.PatchMatchSearch.search = original
    lines = ["| PatchMatch | images | cpu s/sample (mean) | min | max |"]
    lines.append("|---|---:|---:|---:|---:|")
    for name, t in results.items():
        mean = sum(t) / len(t)
        lines.append(f"| {name} | {len(t)} | {mean:.2f} | {min(t):.2f} | {max(t):.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=SHARED / "sigd16")
    ap.add_argument("--references", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_keys")
    ap.add_argument("--samples", type=int, default=2, help="samples per image (PatchMatch)")
    ap.add_argument("--exact", type=int, default=1, help="images for the exact-search runs")
    ap.add_argument("--max-queries", type=int, default=4000)
    ap.add_argument("--speed", action="store_true", help="time the PatchMatch reuse instead")
    ap.add_argument("--skip", action="append", default=[], help="leave out this run (repeatable)")
    ap.add_argument(
        "--jpeg",
        type=int,
        default=0,
        help="also measure sample 0 of each PatchMatch run saved as JPEG of this quality "
        "(the SIGD16 reference PNGs were JPEG quality 75 before: their JPEG ghost)",
    )
    args = ap.parse_args()
    stems = _stems(args.images)
    if args.speed:
        print(speed(stems, args.images))
        return
    summaries, exact_stems = {}, stems[: args.exact]

    def cache(name: str) -> Path:
        return args.out / "measures" / f"{_slug(name)}.json"

    for name, params in RUNS.items():
        exact = params.get("nn") == "exact"
        chosen = exact_stems if exact else stems
        if not chosen or name in args.skip:
            continue
        n = 1 if exact or params.get("engine") == "gpdm" else args.samples
        times = make_samples(name, params, chosen, args.images, args.out, n)
        folder = args.out / _slug(name)
        rows = evaluate(folder, chosen, args.images, args.max_queries, "{stem}_*.png", cache(name))
        summaries[name] = summarise(rows, times, chosen)
        if exact:  # the PatchMatch runs on the same images, for a like-for-like comparison
            twin = name.replace("exact", "patchmatch")
            twin_rows = evaluate(
                args.out / _slug(twin),
                chosen,
                args.images,
                args.max_queries,
                "{stem}_0.png",
                cache(twin),
            )
            summaries[f"{twin}, same images, sample 0"] = summarise(twin_rows, None, chosen)
    if args.jpeg:  # sample 0 of each run saved as the references were (see --jpeg)
        for name, params in RUNS.items():
            folder = args.out / _slug(name)
            if params.get("nn") == "exact" or name in args.skip or not folder.is_dir():
                continue
            jpegs = args.out / f"{_slug(name)}-jpeg{args.jpeg}"
            jpegs.mkdir(exist_ok=True)
            for stem in stems:
                image = Image.open(folder / f"{stem}_0.png")
                image.save(jpegs / f"{stem}_0.jpg", quality=args.jpeg)
            label = f"{name}, sample 0 as JPEG q{args.jpeg}"
            rows = evaluate(
                jpegs, stems, args.images, args.max_queries, "{stem}_0.jpg", cache(label)
            )
            summaries[label] = summarise(rows, None, stems)
    for name, where in REFERENCES.items():
        pattern = "{stem}.png"
        rows = evaluate(
            args.references / where, stems, args.images, args.max_queries, pattern, cache(name)
        )
        summaries[name] = summarise(rows, None, stems)
        if exact_stems:
            summaries[f"{name}, first {len(exact_stems)}"] = summarise(rows, None, exact_stems)
    (args.out / "summary.json").write_text(json.dumps(summaries, indent=1))
    print(table(summaries))
    if any(math.isnan(v) for s in summaries.values() for v in s.values() if isinstance(v, float)):
        print("warning: NaN in a summary")


if __name__ == "__main__":
    main()
