"""Threads under contention: one GPNN generation alone and beside busy processes.

Each run is a fresh ``dropgan generate`` process (OpenMP reads its settings when torch loads),
on a 128x96 crop of the built-in example, timed by wall clock. Variants: torch's default
threads with OpenMP's active spin-waiting (what dropgan did before), with passive waiting
(dropgan's default now: ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it), and one thread.
"Busy" runs start as many spinning processes as there are cores beside each run.

    .venv/bin/python benchmarks/bench_threads.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "default threads, active wait (before)": {"OMP_WAIT_POLICY": "ACTIVE"},
    "default threads, passive wait (now)": {},
    "one thread": {"OMP_NUM_THREADS": "1"},
}


def _spin(stop: multiprocessing.Event) -> None:
    while not stop.is_set():
        pass


def _one_run(env: dict[str, str], image: Path, out: Path) -> float:
    cmd = [sys.executable, "-m", "dropgan.cli", "generate", str(image), "--quiet", "--force"]
    cmd += ["--out", str(out), "--seed", "0"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, **env})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import dropgan

    folder = Path(tempfile.mkdtemp())
    image = folder / "crop.png"
    x = dropgan.read_image(dropgan.example("balloons"))
    dropgan.write_image(dropgan.pyramid.resize(x, (96, 128)).clamp(0, 1), image)
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    rows = []
    for busy in (False, True):
        for name, env in VARIANTS.items():
            stop = multiprocessing.Event()
            spinners = [
                multiprocessing.Process(target=_spin, args=(stop,))
                for _ in range(os.cpu_count() if busy else 0)
            ]
            for s in spinners:
                s.start()
            try:
                times = [
                    _one_run({**base, **env}, image, folder / "out") for _ in range(args.repeats)
                ]
            finally:
                stop.set()
                for s in spinners:
                    s.join()
            rows.append((name, busy, statistics.median(times), max(times)))
    print(f"{os.cpu_count()} cores, {args.repeats} runs each, 128x96 generation, wall seconds\n")
    print("| variant | machine | median | worst |")
    print("|---|---|---:|---:|")
    for name, busy, med, worst in rows:
        where = f"busy ({os.cpu_count()} spinning processes)" if busy else "idle"
        print(f"| {name} | {where} | {med:.2f} | {worst:.2f} |")


if __name__ == "__main__":
    main()
