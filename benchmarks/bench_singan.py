"""SinGAN training cost per schedule: seconds per iteration at every scale, measured on a few
timed iterations, extrapolated to a whole training, and the peak memory.

For each schedule (``paper``, ``fast``) the scales of a ~250 px image are set up as training
would (each scale's generator from the scale below; the earlier scales are only as trained
as the timed iterations left them, which does not change the cost of an iteration), a few
iterations are timed at every scale, and the table gives the seconds per iteration, the
extrapolated time of the scale's ``iters`` iterations, the share of the total that the
progress bar's cost model (:func:`~dropgan.engines.singan.train.scale_cost`) predicts beside
the measured share, and the total. Peak memory is the process's peak resident set (CPU) or
the peak CUDA allocation (GPU), per schedule.

    .venv/bin/python benchmarks/bench_singan.py [--device cuda] [--timed 2] [--warmup 1]
        [--schedules paper fast] [--image PATH] [--full]

``--full`` also runs one whole training per schedule with :func:`dropgan.engines.singan.train`
and prints its real time beside the extrapolation (on a GPU: minutes; on this CPU: hours).
The CPU may be shared: the load average before and after is printed with the tables.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path

import torch

from dropgan.engines.singan import SinGANParams, train
from dropgan.engines.singan.model import scale_width
from dropgan.engines.singan.train import ScaleTrainer, new_model, real_pyramid, scale_cost
from dropgan.examples import example
from dropgan.image import read_image


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    # Linux: "5" resets the peak resident set size (VmHWM) of this process
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_mib(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB (CUDA peak allocated)"
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return f"{int(line.split()[1]) / 1024:.0f} MiB (peak resident set of the process)"
    except OSError:
        pass
    return "n/a"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def bench_schedule(
    image: torch.Tensor, schedule: str, device: torch.device, timed: int, warmup: int
) -> None:
    params = SinGANParams(schedule=schedule)
    _reset_peak(device)
    model = new_model(image, params, 0, device)
    reals = real_pyramid(model)
    iters = model.params.iters
    count = len(model.scales)
    rows, per_iter, costs = [], [], []
    for n in range(count):
        trainer = ScaleTrainer(model, reals, n)
        # warm up where it is cheap: the first iteration creates Adam's state and caches
        cheap = not per_iter or per_iter[-1] < 2.0
        for it in range(warmup if cheap else 0):
            trainer.step(it)
        _sync(device)
        start = time.perf_counter()
        for it in range(timed):
            trainer.step(it)
        _sync(device)
        seconds = (time.perf_counter() - start) / timed
        trainer.finish()
        per_iter.append(seconds)
        costs.append(scale_cost(model, n))
        h, w = model.scales.sizes[n]
        rows.append((n, f"{w}x{h}", scale_width(n, model.params)[0], seconds, seconds * iters))
    total = sum(r[4] for r in rows)
    model_total = sum(costs)
    print(
        f"\n### {schedule}: {count} scales, {iters} iterations each, "
        f"{'BatchNorm' if model.params.batch_norm else 'no BatchNorm'}, "
        f"{model.params.concurrent} generator(s) trained at once\n"
    )
    print("| scale | size | width | s / iteration | scale time (extrapolated) | share | model |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for (n, size, width, s, t), cost in zip(rows, costs, strict=True):
        print(
            f"| {n} | {size} | {width} | {s:.3f} | {_clock(t)} | {100 * t / total:.1f}% "
            f"| {100 * cost / model_total:.1f}% |"
        )
    print(f"| **total** | | | | **{_clock(total)}** ({total / 3600:.2f} h) | | |")
    print(f"\npeak memory: {_peak_mib(device)}")


def full_run(image: torch.Tensor, schedule: str, device: torch.device) -> None:
    _reset_peak(device)
    start = time.perf_counter()
    train(image, schedule=schedule, device=device, seed=0)
    _sync(device)
    print(
        f"\nfull {schedule} training: {_clock(time.perf_counter() - start)} real time, "
        f"peak memory {_peak_mib(device)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--schedules", nargs="+", default=["paper", "fast"])
    parser.add_argument("--timed", type=int, default=2, help="timed iterations per scale")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first iterations")
    parser.add_argument("--image", default=None, help="training image (default: balloons)")
    parser.add_argument("--full", action="store_true", help="also time whole trainings")
    args = parser.parse_args()
    device = torch.device(args.device)
    image = read_image(args.image or example("balloons"))
    name = Path(args.image).name if args.image else "balloons"
    load_before = os.getloadavg()[0]
    print(
        f"SinGAN training cost on {device} ({torch.cuda.get_device_name(device)})"
        if device.type == "cuda"
        else f"SinGAN training cost on the CPU, {torch.get_num_threads()} torch thread(s)"
    )
    print(
        f"image: {name}, {image.shape[2]}x{image.shape[1]} px; {args.timed} timed "
        f"iteration(s) per scale after {args.warmup} untimed (where one takes < 2 s)"
    )
    for schedule in args.schedules:
        bench_schedule(image, schedule, device, args.timed, args.warmup)
        if args.full:
            full_run(image, schedule, device)
    print(f"\nload average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
