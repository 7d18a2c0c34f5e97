"""Super-resolution and denoising tables: GPNN against the classic baselines, on the standard
test images in ``../shared/images/sr`` (Set5, Set14, images 1-50 of BSD100).

    .venv/bin/python benchmarks/bench_restoration.py sr [--sets set5 set14 bsd100] [--limit N]
    .venv/bin/python benchmarks/bench_restoration.py denoise [--sets set14 bsd100] [--limit N]

``sr``: x4 from the ``*_LR.png`` images (the ground truth's bicubic downscale), measured by the
SR protocol (PSNR and SSIM on the BT.601 luma, 4 border pixels cropped,
:mod:`dropgan.metrics.restoration`) against ``*_HR.png``, for bicubic upscaling (torch,
``antialias=False``: the Keys kernel a = -0.75), bicubic with a = -0.5 (PIL's and MATLAB's
kernel, which the literature's 28.43 dB on Set5 used: it checks the protocol) and
:func:`dropgan.tasks.superres.superres` with its defaults.

``denoise``: Gaussian noise of sigma 25/255 added to the ``*_HR.png`` images (seeded by the
image's index, clipped to [0, 1] as an image file would be), PSNR on RGB against the clean
image, for the noisy input, :func:`dropgan.tasks.denoise.denoise` (told sigma) and, if
scikit-image is installed, its non-local means (``denoise_nl_means``, tuned once on four
images and the same for all: h = 0.6 sigma, 7 x 7 patches, search distance 11, fast mode).

Every output is rounded to 8 bits before it is measured, as a written PNG would be. Times are
wall clock per image, on whatever else the machine runs: the load average is printed. The
tables are markdown.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from dropgan.image import read_image
from dropgan.metrics.restoration import psnr, ssim
from dropgan.pyramid import resize
from dropgan.tasks.denoise import denoise
from dropgan.tasks.superres import superres

SR = Path(__file__).resolve().parents[1].parent / "shared" / "images" / "sr"
SIGMA = 25 / 255
FACTOR = 4


def eight_bit(image: torch.Tensor) -> torch.Tensor:
    return (image.clamp(0, 1) * 255).round() / 255


def _timed(make: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    out = make()
    return eight_bit(out), time.perf_counter() - start


def _images(name: str, limit: int | None) -> list[Path]:
    found = sorted((SR / name).glob("*_HR.png"))
    if not found:
        raise SystemExit(f"no *_HR.png images in {SR / name}")
    return found[:limit] if limit else found


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def bench_sr(sets: list[str], limit: int | None, seed: int) -> None:
    rows = []
    for name in sets:
        scores: dict[str, list[tuple[float, float, float]]] = {"bicubic": [], "pil": [], "gpnn": []}
        wins = 0
        for hr_path in _images(name, limit if name == "bsd100" else None):
            hr = read_image(hr_path)
            lr = read_image(str(hr_path).replace("_HR.png", "_LR.png"))
            size = tuple(hr.shape[-2:])
            outs = {
                "bicubic": _timed(
                    lambda lr=lr, size=size: F.interpolate(
                        lr[None], size=size, mode="bicubic", align_corners=False
                    )[0]
                ),
                "pil": _timed(lambda lr=lr, size=size: resize(lr, size)),
                "gpnn": _timed(lambda lr=lr: superres(lr, FACTOR, seed=seed).image),
            }
            for key, (y, t) in outs.items():
                scores[key].append((psnr(y, hr, FACTOR), ssim(y, hr, FACTOR), t))
            wins += scores["gpnn"][-1][0] > scores["bicubic"][-1][0]
            print(f"{name} {hr_path.name}: {scores['gpnn'][-1]}", file=sys.stderr, flush=True)
        n = len(scores["gpnn"])
        cells = [f"{name} ({n})"]
        for key in ("bicubic", "pil", "gpnn"):
            p, s, t = (_mean([r[i] for r in scores[key]]) for i in range(3))
            cells.append(f"{p:.2f} / {s:.4f}")
            if key == "gpnn":
                cells.append(f"{t:.1f} s")
        cells.append(f"{wins}/{n}")
        rows.append(cells)
    print(f"\nx{FACTOR}, PSNR (dB) / SSIM on Y, {FACTOR} px borders cropped; load {_load()}\n")
    print(
        "| set (images) | bicubic (torch, a=-0.75) | bicubic (PIL/MATLAB, a=-0.5) "
        "| GPNN superres | GPNN time / image | GPNN beats bicubic (PSNR) |"
    )
    print("|---|---|---|---|---|---|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


def noisy_copy(clean: torch.Tensor, index: int) -> torch.Tensor:
    """``clean`` with Gaussian noise of :data:`SIGMA` drawn from seed ``index``, in 8 bits."""
    g = torch.Generator().manual_seed(index)
    return eight_bit(clean + SIGMA * torch.randn(clean.shape, generator=g))


def nl_means(noisy: torch.Tensor) -> torch.Tensor | None:
    try:
        from skimage.restoration import denoise_nl_means
    except ImportError:
        return None
    a = noisy.permute(1, 2, 0).double().numpy()
    out = denoise_nl_means(
        a,
        h=0.6 * SIGMA,
        sigma=SIGMA,
        patch_size=7,
        patch_distance=11,
        fast_mode=True,
        channel_axis=-1,
    )
    return torch.from_numpy(out).permute(2, 0, 1).float()


def bench_denoise(sets: list[str], limit: int | None, seed: int) -> None:
    rows = []
    for name in sets:
        scores: dict[str, list[tuple[float, float]]] = {"noisy": [], "gpnn": [], "nlm": []}
        for index, path in enumerate(_images(name, limit if name == "bsd100" else None)):
            clean = read_image(path)
            noisy = noisy_copy(clean, index)
            scores["noisy"].append((psnr(noisy, clean, channel="rgb"), 0.0))
            y, t = _timed(lambda z=noisy: denoise(z, sigma=SIGMA, seed=seed).image)
            scores["gpnn"].append((psnr(y, clean, channel="rgb"), t))
            start = time.perf_counter()
            nlm = nl_means(noisy)
            if nlm is not None:
                t = time.perf_counter() - start
                scores["nlm"].append((psnr(eight_bit(nlm), clean, channel="rgb"), t))
            print(f"{name} {path.name}: {scores['gpnn'][-1]}", file=sys.stderr, flush=True)
        n = len(scores["noisy"])
        cells = [f"{name} ({n})", f"{_mean([r[0] for r in scores['noisy']]):.2f}"]
        for key in ("gpnn", "nlm"):
            if scores[key]:
                cells += [f"{_mean([r[0] for r in scores[key]]):.2f}"]
                cells += [f"{_mean([r[1] for r in scores[key]]):.1f} s"]
            else:
                cells += ["(scikit-image missing)", ""]
        rows.append(cells)
    print(f"\nGaussian noise sigma 25/255, PSNR (dB) on RGB; load {_load()}\n")
    print("| set (images) | noisy | GPNN denoise | time / image | non-local means | time / image |")
    print("|---|---|---|---|---|---|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("table", choices=["sr", "denoise"])
    parser.add_argument("--sets", nargs="+", help="default: set5 set14 bsd100 (sr), set14 bsd100")
    parser.add_argument("--limit", type=int, help="the first N images of bsd100 only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(f"load average before: {_load()}", file=sys.stderr)
    if args.table == "sr":
        bench_sr(args.sets or ["set5", "set14", "bsd100"], args.limit, args.seed)
    else:
        bench_denoise(args.sets or ["set14", "bsd100"], args.limit, args.seed)


if __name__ == "__main__":
    main()
