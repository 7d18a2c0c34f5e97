"""Peak memory of a run: a 1024x768 generation under ``--memory-budget`` and ``-n 8`` at 250 px.

Each row is a fresh ``dropgan generate`` process whose peak resident set (the process's
``ru_maxrss``, torch's own ~0.25 GB included) and processor time (user + system, which
a busy machine disturbs less than wall time) are printed. ``--before SRC``
adds the same rows for another checkout's ``src`` folder (e.g. a ``git worktree`` of an
older commit), so that a change is measured against what it replaced in one run.

    .venv/bin/python benchmarks/bench_memory.py [--before /tmp/old/src] [--nn patchmatch]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# runs the CLI in the child and reports its peak resident set, whatever the exit status
_CHILD = """
import resource, sys
from dropgan.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
finally:
    use = resource.getrusage(resource.RUSAGE_SELF)
    print("PEAK_KIB", use.ru_maxrss, use.ru_utime + use.ru_stime, file=sys.stderr)
"""

SRC = Path(__file__).resolve().parents[1] / "src"


def _images(folder: Path) -> dict[str, Path]:
    import dropgan

    x = dropgan.read_image(dropgan.example("balloons"))
    out = {}
    for name, size in (("1024x768", (768, 1024)), ("250x188", (188, 250))):
        out[name] = folder / f"{name}.png"
        dropgan.write_image(dropgan.pyramid.resize(x, size).clamp(0, 1), out[name])
    return out


def _run(src: Path, args: list[str]) -> tuple[float, float]:
    """(peak GiB, processor s) of one CLI run with ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"run failed: {' '.join(args)}\n{proc.stderr[-2000:]}")
    line = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_KIB")][-1]
    _, peak, seconds = line.split()
    return int(peak) / 2**20, float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout's src folder")
    parser.add_argument("--nn", default="patchmatch", help="search backend (default patchmatch)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    images = _images(folder)
    cases = [
        ("1024x768, -n 1, --memory-budget 1G", images["1024x768"], ["--memory-budget", "1G"]),
        ("1024x768, -n 1, no budget", images["1024x768"], []),
        ("250x188, -n 8", images["250x188"], ["-n", "8"]),
    ]
    sources = [("now", SRC)] + ([("before", args.before)] if args.before else [])
    rows = []
    for label, image, extra in cases:
        for which, src in sources:
            out = folder / f"out-{which}"
            cli = ["generate", str(image), "--out", str(out), "--force", "--quiet", "--seed", "0"]
            peak, seconds = _run(src, [*cli, "--nn", args.nn, *extra])
            rows.append((label, which, peak, seconds))
    print(f"one thread, {args.nn}, peak resident set of the process (torch included)\n")
    print("| run | code | peak GiB | processor s |")
    print("|---|---|---:|---:|")
    for label, which, peak, seconds in rows:
        print(f"| {label} | {which} | {peak:.2f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
