"""Benchmark of the engines and nearest-neighbour backends on real images: time, memory and
quality.

The variants are GPNN with each search backend (``exact``, ``patchmatch``) and the GPDM
engine (``gpdm``), all with their default settings. For every image and variant,
``dropgan.generate`` makes one random sample (the same seed for every variant) in a fresh
subprocess, so that the peak resident memory (``VmHWM``) is that run's own. Reported per
run:

* time per sample, wall clock, of ``generate`` alone;
* peak resident memory of the process (torch itself takes a few hundred MB of it);
* coherence and completeness of the sample against its source (``dropgan.metrics``), and
  their relative difference to the exact backend's sample with the same seed;
* SIFID against the source, when ``dropgan setup-metrics`` has run;
* NN energy ratio: in a second, untimed run of an approximate backend, at every PNN step
  a fixed random subset of the queries is also searched exactly, and the sum of the
  distances the backend chose is divided by the sum of the exact ones (1 = exact).

The 16 SIGD16 images are used as they are (about 250 x 180 px), plus one large image,
SinGAN's ``wild_bush.jpg`` resized to 1024 px wide, where the exact backend is infeasible on a
CPU (about 1.8e14 operations per PNN step): only the approximate backends run there, and its
coherence and completeness are estimated on a random subset of patches.

Usage::

    python benchmarks/bench_backends.py              # everything (~1 h on 2 cores)
    python benchmarks/bench_backends.py --images 2   # two SIGD16 images and the large one
    python benchmarks/bench_backends.py --quick      # two SIGD16 images, no large image
    python benchmarks/bench_backends.py --variants patchmatch,gpdm
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"
SIGD = IMAGES / "sigd16"
LARGE = IMAGES / "singan" / "Images" / "wild_bush.jpg"
LARGE_WIDTH = 1024
LARGE_METRIC_QUERIES = 4096  # patches sampled for coherence and completeness of the large image
PROBE_QUERIES = 256  # queries per PNN step searched exactly for the energy ratio


def _peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _load(path: str, width: int | None):
    import dropgan
    from dropgan.pyramid import resize

    x = dropgan.read_image(path)
    if width is not None and x.shape[-1] != width:
        x = resize(x, (round(x.shape[-2] * width / x.shape[-1]), width)).clamp(0, 1)
    return x


class _EnergyProbe:
    """Wraps a backend; at every call, searches a fixed random subset of the queries exactly
    and accumulates the distances of the backend's choices and of the exact ones."""

    def __init__(self, inner, seed: int) -> None:
        import torch

        self.inner, self.name = inner, inner.name
        self.generator = torch.Generator().manual_seed(seed)
        self.chosen = self.best = 0.0

    def cost(self, layout, batch):
        return self.inner.cost(layout, batch)

    def search(self, queries, keys, alpha, layout, valid_keys=None):
        import torch

        from dropgan.search import nearest

        idx = self.inner.search(queries, keys, alpha, layout, valid_keys)
        if not math.isinf(alpha):
            raise ValueError("the energy probe needs alpha = inf")
        n = queries.shape[1]
        pick = torch.randperm(n, generator=self.generator)[: min(n, PROBE_QUERIES)]
        for b in range(queries.shape[0]):
            q = queries[b, pick]
            self.best += float(nearest(q, keys, alpha, valid_keys)[1].sum())
            self.chosen += float(((q - keys[idx[b, pick]]) ** 2).mean(1).sum())
        return idx


def _generate(x, case: dict) -> list:
    import dropgan

    engine = {"engine": "gpdm"} if case["variant"] == "gpdm" else {"nn": case["variant"]}
    return dropgan.generate(x, n=case["samples"], seed=case["seed"], **engine)


def _sifid(x, ys: list) -> float | None:
    """Mean SIFID of the samples, or None when the metric's weights are not set up."""
    from dropgan.errors import InputError
    from dropgan.metrics import sifid

    try:
        return sum(sifid(x, y) for y in ys) / len(ys)
    except InputError:
        return None


def worker(case: dict) -> dict:
    """One run, in this process: generate, measure, evaluate."""
    import dropgan.tasks.generation as generation
    from dropgan.metrics import coherence, completeness

    x = _load(case["path"], case["width"])
    result = {"size": list(x.shape[-2:]), "baseline_mb": _peak_rss_mb()}
    if case["probe"]:
        make = generation.search_backend
        probes = []

        def probed(*args, **kwargs):
            probes.append(_EnergyProbe(make(*args, **kwargs), case["seed"]))
            return probes[-1]

        generation.search_backend = probed
        _generate(x, case)
        result["energy_ratio"] = probes[0].chosen / probes[0].best
        return result
    t = time.perf_counter()
    ys = _generate(x, case)
    result["time_s"] = (time.perf_counter() - t) / len(ys)
    result["peak_mb"] = _peak_rss_mb()
    mq = case["metric_queries"]
    result["coherence"] = sum(coherence(y, x, max_queries=mq) for y in ys) / len(ys)
    result["completeness"] = sum(completeness(y, x, max_queries=mq) for y in ys) / len(ys)
    result["sifid"] = _sifid(x, ys)
    return result


def run_case(case: dict) -> dict:
    """Run one case in a fresh interpreter and return its result."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(case)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt(v: float | None, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _geomean_change(pairs: list[tuple[dict, dict | None]], key: str) -> float | None:
    """Geometric mean over images of a measure's ratio to the exact backend's, in percent
    change: robust to the orders of magnitude the measures span from image to image."""
    logs = [math.log(r[key] / e[key]) for r, e in pairs if e is not None and e[key] > 0]
    return 100 * (math.exp(_mean(logs)) - 1) if logs else None


def _label(variant: str) -> str:
    return variant if variant == "gpdm" else f"gpnn {variant}"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:+.1f} %"


def _rel(v: float | None, ref: float | None) -> str:
    return "—" if v is None or ref is None else _pct(100 * (v / ref - 1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=16, help="SIGD16 images to use (1-16)")
    parser.add_argument("--quick", action="store_true", help="two SIGD16 images and no large image")
    parser.add_argument(
        "--variants",
        default=None,
        help="comma-separated search backends of GPNN and 'gpdm' (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--samples", type=int, default=1, help="samples per image and backend (one batch)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    from dropgan.search import BACKENDS

    variants = args.variants.split(",") if args.variants else [*sorted(BACKENDS), "gpdm"]
    unknown = set(variants) - {*BACKENDS, "gpdm"}
    if unknown:
        parser.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
    variants.sort(key=lambda v: v != "exact")  # the reference first
    count = 2 if args.quick else args.images
    paths = sorted(SIGD.glob("*.jpg"), key=lambda p: int(p.stem))[:count]
    images = [(p, None) for p in paths] + ([] if args.quick else [(LARGE, LARGE_WIDTH)])

    rows, summary = [], {v: [] for v in variants}
    for path, width in images:
        large = width is not None
        name = path.stem + (f" @{width}px" if large else "")
        ref = None
        for variant in variants:
            if large and variant in ("exact", "gpdm"):
                continue
            case = {
                "path": str(path),
                "width": width,
                "variant": variant,
                "seed": args.seed,
                "samples": args.samples,
                "probe": False,
                "metric_queries": LARGE_METRIC_QUERIES if large else None,
            }
            print(f"{name}: {variant} ...", file=sys.stderr, flush=True)
            r = run_case(case)
            if variant == "exact":
                ref = r
            elif variant != "gpdm":  # GPDM searches no nearest neighbours
                r["energy_ratio"] = run_case({**case, "probe": True})["energy_ratio"]
            print(f"  {json.dumps(r)}", file=sys.stderr, flush=True)
            rows.append((name, variant, r, None if large else ref))
            if not large:
                summary[variant].append((r, ref))

    print(
        "| image | size | variant | time/sample (s) | peak RSS (MB) | coherence | vs exact "
        "| completeness | vs exact | SIFID | NN energy ratio |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, variant, r, ref in rows:
        h, w = r["size"]
        print(
            f"| {name} | {w}x{h} | {_label(variant)} | {r['time_s']:.1f} | {r['peak_mb']:.0f} "
            f"| {r['coherence']:.3e} | {_rel(r['coherence'], ref and ref['coherence'])} "
            f"| {r['completeness']:.3e} | {_rel(r['completeness'], ref and ref['completeness'])} "
            f"| {_fmt(r['sifid'], '.3f')} | {_fmt(r.get('energy_ratio'), '.3f')} |"
        )
    print()
    print(
        f"Over the {count} SIGD16 images: mean time, largest peak, geometric mean of the "
        "ratios to GPNN exact's measure (as a change), mean SIFID, mean energy ratio."
    )
    print()
    print(
        "| variant | time/sample (s) | peak RSS (MB) | coherence vs exact "
        "| completeness vs exact | SIFID | NN energy ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for variant, pairs in summary.items():
        if not pairs:
            continue
        energy = [r["energy_ratio"] for r, _ in pairs if "energy_ratio" in r]
        sifids = [r["sifid"] for r, _ in pairs if r["sifid"] is not None]
        print(
            f"| {_label(variant)} | {_mean([r['time_s'] for r, _ in pairs]):.1f} "
            f"| {max(r['peak_mb'] for r, _ in pairs):.0f} (max) "
            f"| {_pct(_geomean_change(pairs, 'coherence'))} "
            f"| {_pct(_geomean_change(pairs, 'completeness'))} "
            f"| {_fmt(_mean(sifids) if sifids else None, '.3f')} "
            f"| {_fmt(_mean(energy) if energy else None, '.3f')} |"
        )
    if not args.quick:
        print()
        print(
            f"The large image ({LARGE.name} at {LARGE_WIDTH} px wide) runs only GPNN's "
            "approximate backends: the exact search is infeasible there on a CPU (about "
            "1.8e14 operations per PNN step), and GPDM's target is 250 px. Its coherence and "
            f"completeness are estimated on {LARGE_METRIC_QUERIES} random patches."
        )
    print()
    print(
        f"Energy ratio: at every PNN step, {PROBE_QUERIES} random queries are also searched "
        "exactly; the ratio is the sum of the distances the backend chose over the sum of the "
        "exact ones (1 = exact). Peak RSS includes torch itself (a few hundred MB: "
        "baseline_mb in the per-run JSON lines on stderr). Coherence and completeness of "
        "one sample move by tens of percent with the seed alone, so compare the geometric "
        "means over many images (or use --samples). SIFID (against the source, FID "
        "InceptionV3 weights) shows — until `dropgan setup-metrics` has run."
    )


if __name__ == "__main__":
    main()
