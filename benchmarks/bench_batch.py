"""Benchmark of ``dropgan batch`` and of the fast evaluation.

1. Throughput: one GPNN sample of each of a few SIGD16 images (default parameters, so the
   PatchMatch backend on a CPU), as a batch manifest run by the local pool with 1 worker and
   with 2 workers (one torch thread each) and by a local Ray (as many CPUs as workers), each
   into a fresh folder. Reported: images per minute of wall-clock time, including the start
   of the workers (or of Ray), and the mean seconds of one image inside a worker.
2. ``dropgan eval`` seconds per image pair (a real image and one sample): before (exact
   search of 10 000 sampled patches, the old default), after (PatchMatch with the exact
   correction), and after on 2 workers (their start included). Wall-clock and processor
   seconds (all processes) per pair; all the metrics whose weights are set up (``dropgan
   setup-metrics``), else coherence, completeness and diversity.
3. The error of coherence and completeness against exhaustive search over all patches (the
   truth): PatchMatch alone, PatchMatch with the correction (the new default), and the old
   sampled exact search.

The machine it runs on is usually shared: wall-clock times grow with the load (the 1-minute
load average is printed before and after); processor times much less.

Usage::

    python benchmarks/bench_batch.py                # 4 images, error on 2 (a few minutes)
    python benchmarks/bench_batch.py --images 8 --error-images 4
    python benchmarks/bench_batch.py --no-ray
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images" / "sigd16"


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_seconds() -> float:
    """Processor seconds of this process and of its children that have ended (the pool's
    workers, once it is shut down)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _table(rows: list[dict], columns: list[str]) -> str:
    def cell(v: object) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def throughput(sources: list[Path], work: Path, ray: bool) -> tuple[list[dict], Path]:
    from dropgan.batch import run_batch

    setups = [("local, 1 worker x 1 thread", 1, None), ("local, 2 workers x 1 thread", 2, None)]
    if ray:
        setups.append(("local Ray, 2 CPUs, 1 thread per task", None, 2))
    rows, first_out = [], None
    for label, workers, ray_cpus in setups:
        out = work / f"out-{len(rows)}"
        first_out = first_out or out
        jobs = [
            {"task": "generate", "inputs": {"image": str(p)}, "seed": 0, "out": str(out),
             "params": {"device": "cpu"}}
            for p in sources
        ]  # fmt: skip
        start = time.perf_counter()
        if ray_cpus:
            import ray as ray_module

            ray_module.init(num_cpus=ray_cpus, include_dashboard=False, logging_level="warning")
            try:
                report = run_batch(jobs, ray=True, threads_per_worker=1)
            finally:
                ray_module.shutdown()
        else:
            report = run_batch(jobs, workers=workers, threads_per_worker=1)
        wall = time.perf_counter() - start
        assert report.ok, report.failed
        per_image = sum(r["seconds"] for r in report.done) / len(sources)
        cpu = sum(r["cpu_seconds"] for r in report.done) / len(sources)
        rows.append(
            {"setup": label, "images": len(sources), "wall s": wall,
             "images/min": 60 * len(sources) / wall, "wall s per image in a worker": per_image,
             "cpu s per image": cpu}
        )  # fmt: skip
        print(_table(rows[-1:], list(rows[-1])), flush=True)
    return rows, first_out


def evaluation(real: Path, fake: Path, pairs: int) -> list[dict]:
    from dropgan.metrics import evaluate_folders
    from dropgan.metrics.report import check_metrics

    try:
        metrics = check_metrics(None)
    except Exception:  # weights not set up
        metrics = ["coherence", "completeness", "diversity"]
    rows = []
    for label, kw in [
        ("before: exact, 10 000 sampled patches", {"search": "exact", "max_queries": 10_000}),
        ("after: PatchMatch + exact check", {"search": "patchmatch"}),
        ("after, 2 workers x 1 thread", {"search": "patchmatch", "workers": 2,
                                          "threads_per_worker": 1}),
    ]:  # fmt: skip
        start, cpu = time.perf_counter(), _cpu_seconds()
        evaluate_folders(real, fake, metrics=metrics, **kw)
        wall = (time.perf_counter() - start) / pairs
        cpu_s = (_cpu_seconds() - cpu) / pairs
        rows.append(
            {"evaluation": label, "pairs": pairs, "wall s per pair": wall,
             "cpu s per pair": cpu_s, "metrics": ",".join(metrics)}
        )  # fmt: skip
        print(_table(rows[-1:], list(rows[-1])), flush=True)
    return rows


def error(sources: list[Path], samples: Path) -> list[dict]:
    import torch

    from dropgan.image import read_image
    from dropgan.metrics.patch_stats import mean_nn_distance, nn_distances

    torch.set_num_threads(1)
    rows = []
    for src in sources:
        x, y = read_image(src), read_image(samples / f"{src.stem}_0.png")
        for measure, (q, k) in {"coherence": (y, x), "completeness": (x, y)}.items():
            truth = float(nn_distances(q, k).mean())  # every patch, exhaustively
            pm = float(nn_distances(q, k, search="patchmatch").mean())
            t = time.process_time()
            corrected, _ = mean_nn_distance(q, k, search="patchmatch")
            cpu = time.process_time() - t
            old, _ = mean_nn_distance(q, k, max_queries=10_000)
            rows.append(
                {"image": src.stem, "measure": measure, "exact (all patches)": truth,
                 "PatchMatch alone": f"{pm / truth - 1:+.1%}",
                 "PatchMatch + check (new)": f"{corrected / truth - 1:+.1%}",
                 "exact, 10 000 sampled (old)": f"{old / truth - 1:+.1%}",
                 "new: cpu s": cpu}
            )  # fmt: skip
            print(_table(rows[-1:], list(rows[-1])), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4, help="SIGD16 images (default 4)")
    parser.add_argument("--error-images", type=int, default=2, help="for the error (default 2)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sources = sorted(IMAGES.glob("*.jpg"), key=lambda p: int(p.stem))[: args.images]
    ray = not args.no_ray
    if ray:
        try:
            import ray as _  # noqa: F401
        except ImportError:
            print("Ray is not installed: its row is skipped")
            ray = False
    print(f"Machine: {_cpu()}, {os.cpu_count()} logical cores, shared with other users; "
          f"1-minute load average {os.getloadavg()[0]:.1f} at the start.\n")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows, samples = throughput(sources, work, ray)
        real = work / "real"
        real.mkdir()
        for p in sources:
            (real / p.name).symlink_to(p)
        eval_rows = evaluation(real, samples, len(sources))
        error_rows = error(sources[: args.error_images], samples)
    print("\n## Throughput\n")
    print(_table(rows, list(rows[0])))
    print("\n## dropgan eval, per image pair\n")
    print(_table(eval_rows, list(eval_rows[0])))
    print("\n## Coherence and completeness against exhaustive search\n")
    print(_table(error_rows, list(error_rows[0])))
    print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.1f}")
    print(json.dumps({"throughput": rows, "eval": eval_rows, "error": error_rows}, default=str))


if __name__ == "__main__":
    main()
