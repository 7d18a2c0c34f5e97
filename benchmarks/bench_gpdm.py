"""GPDM on SIGD16 photographs (about 250 x 180): time per sample and patch statistics.

Runs the fast schedule (``schedule="fast"``) on a few images, the authors' schedule (the
default: 300 steps at every level, 64 projections) on some of them, and prints a markdown
table with the time per sample (wall clock and CPU time of the process), the steps taken
over all levels, and coherence and completeness against the source (lower is better; a
fixed random subset of the patches, the same for every row). The authors' own GPNN
outputs for the same images (``images/reference/sigd16_gpnn``) are listed as a yardstick.

    .venv/bin/python benchmarks/bench_gpdm.py [--images 3 12 15] [--authors 3] [--n 2]
        [--sigmas 0.75 0.05]

``--sigmas`` runs every schedule at each noise level: the noise is added at the coarsest
level, where the authors' noise (drawn at full size with their ``noise_sigma`` and then
averaged down by the pyramid's first resize) measures about 0.05 at 250 px (module notes of
:mod:`dropgan.engines.gpdm`), against our 0.75.

The CPU may be shared: the load average before and after is printed with the table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from dropgan.engines.gpdm import gpdm
from dropgan.image import read_image
from dropgan.metrics.patch_stats import coherence, completeness

IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "images"


def _stats(outputs: list[torch.Tensor], source: torch.Tensor, max_queries: int) -> tuple:
    coh = sum(coherence(y, source, max_queries=max_queries) for y in outputs) / len(outputs)
    com = sum(completeness(y, source, max_queries=max_queries) for y in outputs) / len(outputs)
    return coh, com


def _run(source: torch.Tensor, n: int, seed: int, options: dict) -> tuple:
    steps: list[int] = []
    wall, cpu = time.perf_counter(), time.process_time()
    out = gpdm(
        source,
        n=n,
        generator=torch.Generator().manual_seed(seed),
        on_level=lambda _, losses: steps.append(len(losses)),
        **options,
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return list(out), sum(steps), wall / n, cpu / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", nargs="+", default=["3", "12", "15"], help="SIGD16 numbers")
    parser.add_argument("--authors", nargs="*", default=["3"], help="images for the authors' run")
    parser.add_argument("--n", type=int, default=2, help="samples per fast run (one batch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-queries", type=int, default=4000, help="patches per statistic")
    parser.add_argument("--sigmas", nargs="+", type=float, default=[0.75], help="noise levels")
    args = parser.parse_args()
    if not (IMAGES / "sigd16").is_dir():
        raise SystemExit(f"no SIGD16 images at {IMAGES / 'sigd16'}")

    load_before = os.getloadavg()[0]
    rows = []
    for name in args.images:
        source = read_image(IMAGES / "sigd16" / f"{name}.jpg")
        size = f"{source.shape[2]}x{source.shape[1]}"
        runs = []
        for sigma in args.sigmas:
            runs.append((f"fast, sigma {sigma:g}", args.n, {"schedule": "fast", "sigma": sigma}))
            if name in args.authors:
                runs.append(
                    (
                        f"authors' 300 steps, sigma {sigma:g}",
                        1,
                        {"schedule": "authors", "sigma": sigma},
                    )
                )
        for label, n, options in runs:
            out, steps, wall, cpu = _run(source, n, args.seed, options)
            coh, com = _stats(out, source, args.max_queries)
            rows.append((name, size, label, n, steps, f"{wall:.1f}", f"{cpu:.1f}", coh, com))
        reference = IMAGES / "reference" / "sigd16_gpnn" / f"{name}.png"
        if reference.exists():
            coh, com = _stats([read_image(reference)], source, args.max_queries)
            rows.append((name, size, "GPNN (authors' output)", 1, "", "", "", coh, com))

    print(
        f"torch threads: {torch.get_num_threads()}; load average (1 min) before "
        f"{load_before:.1f}, after {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| image | size | schedule | n | steps | s/sample | CPU s/sample | coherence "
        "| completeness |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, size, label, n, steps, wall, cpu, coh, com in rows:
        print(
            f"| {name} | {size} | {label} | {n} | {steps} | {wall} | {cpu} | {coh:.5f} "
            f"| {com:.5f} |"
        )


if __name__ == "__main__":
    main()
