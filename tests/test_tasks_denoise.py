import pytest
import torch

from dropgan.errors import InputError
from dropgan.image import read_image, read_metadata, write_image
from dropgan.metrics.restoration import psnr
from dropgan.pyramid import resize
from dropgan.tasks.denoise import copy_scales, denoise, estimate_sigma

SIGMA = 25 / 255


@pytest.fixture(scope="module")
def noisy(small_photo):
    """A photograph (64 x 96) and a copy with Gaussian noise of sigma 25/255 (seeded,
    clipped to [0, 1] as an image file would be)."""
    g = torch.Generator().manual_seed(0)
    z = (small_photo + SIGMA * torch.randn(small_photo.shape, generator=g)).clamp(0, 1)
    return small_photo, z


def test_denoised_is_closer_to_the_clean_image(noisy):
    clean, z = noisy
    y = denoise(z, sigma=SIGMA, nn="exact").image
    assert y.shape == z.shape
    before, after = psnr(z, clean, channel="rgb"), psnr(y, clean, channel="rgb")
    # measured 20.2 -> 26.2 dB
    assert after > before + 4, (before, after)
    # and better than simply blurring the noise away by the same downscaling
    s = copy_scales(SIGMA)[0]
    blur = resize(resize(z, (round(64 * s), round(96 * s))), (64, 96)).clamp(0, 1)
    assert after > psnr(blur, clean, channel="rgb"), (after, psnr(blur, clean, channel="rgb"))


@pytest.mark.parametrize("sigma", [10 / 255, 25 / 255])
def test_noise_level_is_estimated(small_photo, sigma):
    g = torch.Generator().manual_seed(1)
    flat = torch.full((3, 64, 96), 0.5) + sigma * torch.randn(3, 64, 96, generator=g)
    assert abs(estimate_sigma(flat) - sigma) < 0.05 * sigma
    photo = (small_photo + sigma * torch.randn(small_photo.shape, generator=g)).clamp(0, 1)
    # texture reads as noise too: 11.9 for 10, 25.4 for 25 on this busy photograph
    assert abs(estimate_sigma(photo) - sigma) < 0.25 * sigma, estimate_sigma(photo) * 255
    assert estimate_sigma(small_photo) < sigma  # the texture alone reads as less noise


def test_stronger_noise_takes_smaller_copies():
    levels = [s / 255 for s in (0, 5, 10, 25, 50, 100)]
    firsts = [copy_scales(s)[0] for s in levels]
    assert all(a >= b for a, b in zip(firsts, firsts[1:], strict=False))
    assert firsts[0] == 0.5 and firsts[-1] == 0.2
    assert all(0 < s < 1 for sigma in levels for s in copy_scales(sigma))


def test_estimated_sigma_and_scales_are_recorded_and_runs_repeat(noisy):
    _, z = noisy
    a = denoise(z, seed=3)
    assert torch.equal(a.image, denoise(z, seed=3).image)
    options = a.metadata["options"]
    assert abs(options["sigma"] - SIGMA) < 0.15 * SIGMA
    assert options["scales"] == list(copy_scales(options["sigma"]))
    given = denoise(z, scales=[0.5], nn="exact").metadata["options"]
    assert given["scales"] == [0.5]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sigma": -0.1}, "sigma"),
        ({"sigma": float("nan")}, "sigma"),
        ({"scales": []}, "scales"),
        ({"scales": [0.5, 1.5]}, "between 0 and 1"),
        ({"scales": 0.5}, "scales"),
        ({"levels": 2}, "depth cannot be set"),
        ({"engine": "gpdm"}, "does not do denoise"),
        ({"scales": [0.05]}, "too small"),
    ],
)
def test_bad_inputs_are_one_line_errors(noisy, kwargs, message):
    _, z = noisy
    with pytest.raises(InputError, match=message) as e:
        denoise(z, **kwargs)
    assert "\n" not in str(e.value)


def test_cli_writes_the_denoised_image(wired, tmp_path, noisy, capsys):
    _, z = noisy
    path = write_image(z, tmp_path / "noisy.png")
    argv = ["denoise", str(path), "--sigma", "0.098", "--nn", "exact", "--quiet"]
    assert wired([*argv, "--out", str(tmp_path)]) == 0, capsys.readouterr().err
    out = tmp_path / "noisy_denoised.png"
    assert read_image(out).shape == z.shape
    assert read_metadata(out)["options"]["sigma"] == 0.098


def test_cli_bad_sigma_is_one_error_line(wired, tmp_path, noisy, capsys):
    _, z = noisy
    path = write_image(z, tmp_path / "noisy.png")
    status = wired(["denoise", str(path), "--sigma", "-1", "--quiet", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("dropgan: error: ") and err.count("\n") == 1, err
