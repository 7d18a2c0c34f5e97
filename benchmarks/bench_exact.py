"""Exact search on one GPNN step of a real image: this checkout against another.

The step is the finest level's of a 250 px SIGD16 photograph: every patch of the image
plus Gaussian noise (the queries) against every patch of the image (the keys), 7 x 7 x 3
patches, plain MSE. Each source tree runs in a fresh process on one thread; printed are
processor seconds (best of ``--repeat``) and whether the answers agree.

Usage::

    .venv/bin/python benchmarks/bench_exact.py --before /tmp/old/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
IMAGE = ROOT.parent / "shared" / "images" / "sigd16" / "1.jpg"

WORKER = """
import json, sys, time, hashlib, torch
import dropgan
from dropgan.patches import extract_patches
from dropgan.search.exact import nearest
image = dropgan.read_image(sys.argv[1])
keys = extract_patches(image[None], 7)[0]
queries = keys + 0.1 * torch.randn(keys.shape, generator=torch.Generator().manual_seed(0))
times = []
for _ in range(int(sys.argv[2])):
    start = time.process_time()
    idx, _ = nearest(queries, keys)
    times.append(time.process_time() - start)
digest = hashlib.sha256(idx.numpy().tobytes()).hexdigest()[:12]
print(json.dumps({"seconds": min(times), "n": keys.shape[0], "digest": digest}))
"""


def run(src: Path, image: Path, repeat: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(image), str(repeat)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout's src folder")
    parser.add_argument("--image", type=Path, default=IMAGE)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    sources = [("now", SRC)] + ([("before", args.before)] if args.before else [])
    rows = [(name, run(src, args.image, args.repeat)) for name, src in sources]
    print(f"queries = keys = {rows[0][1]['n']} patches of {args.image.name}, one thread\n")
    print("| code | cpu s per search | answer digest |")
    print("|---|---:|---|")
    for name, r in rows:
        print(f"| {name} | {r['seconds']:.2f} | {r['digest']} |")


if __name__ == "__main__":
    main()
