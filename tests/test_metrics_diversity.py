"""LPIPS and the two diversity measures."""

import pytest
import torch
from PIL import ImageFilter

from dropgan.errors import InputError
from dropgan.examples import example
from dropgan.image import read_image, to_pil
from dropgan.metrics import (
    lpips,
    mean_pairwise_lpips,
    pairwise_lpips,
    pixel_diversity,
)


@pytest.fixture(scope="module")
def cache(metrics_cache):
    return metrics_cache


@pytest.fixture(scope="module")
def photo():
    return read_image(example("balloons"))[:, 20:148, 40:200]  # 128x160 keeps the tests quick


def _blur(x, radius):
    return read_image(to_pil(x).filter(ImageFilter.GaussianBlur(radius)))


def _noise(x, sigma, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_lpips_is_zero_for_identical_images(cache, photo):
    assert lpips(photo, photo.clone(), cache) == 0.0


def test_lpips_is_symmetric(cache, photo):
    other = _noise(photo, 0.1)
    assert lpips(photo, other, cache) == pytest.approx(lpips(other, photo, cache), rel=1e-6)


def test_lpips_grows_with_distortion(cache, photo):
    blur = [lpips(photo, _blur(photo, r), cache) for r in (0.5, 1, 2, 4)]
    noise = [lpips(photo, _noise(photo, s), cache) for s in (0.01, 0.03, 0.1, 0.3)]
    for values in (blur, noise):
        assert 0 < values[0] < 0.1 and values == sorted(values) and values[-1] > 0.4


def test_lpips_of_unrelated_content_is_large(cache, photo):
    flipped = photo.flip(1)  # the same colours and textures, upside down
    assert lpips(photo, flipped, cache) > 3 * lpips(photo, _blur(photo, 0.5), cache)


def test_lpips_rejects_mismatched_or_tiny_images(cache):
    with pytest.raises(InputError, match="one size"):
        lpips(torch.rand(3, 40, 40), torch.rand(3, 40, 41), cache)
    with pytest.raises(InputError, match="at least 31x31"):
        lpips(torch.rand(3, 30, 64), torch.rand(3, 30, 64), cache)


def test_pairwise_matrix_agrees_with_single_pairs(cache, photo):
    images = [photo, _blur(photo, 1), _noise(photo, 0.1)]
    d = pairwise_lpips(images, cache, batch_size=2)  # batches split the images unevenly
    assert torch.equal(d, d.T) and (d.diagonal() == 0).all()
    assert float(d[1, 2]) == pytest.approx(lpips(images[1], images[2], cache), rel=1e-5)
    mean = mean_pairwise_lpips(images, cache)
    assert mean == pytest.approx(float(d[0, 1] + d[0, 2] + d[1, 2]) / 3, rel=1e-6)


def test_mean_lpips_of_identical_samples_is_zero(cache, photo):
    assert mean_pairwise_lpips([photo] * 3, cache) == 0.0
    assert mean_pairwise_lpips([photo, photo, _noise(photo, 0.1)], cache) > 0


def test_pixel_diversity_is_zero_for_identical_samples_and_positive_otherwise(photo):
    assert pixel_diversity([photo, photo, photo], photo) == 0.0
    samples = torch.stack([_noise(photo, 0.05, seed) for seed in range(4)])
    assert pixel_diversity(samples, photo) > 0


def test_pixel_diversity_is_relative_to_the_source_spread():
    source = torch.tensor([0.0, 1.0]).repeat(3, 4, 2)  # population std 0.5
    samples = [torch.zeros(3, 4, 4), torch.full((3, 4, 4), 0.5)]  # per-pixel std 0.25
    assert pixel_diversity(samples, source) == pytest.approx(0.5)


def test_diversity_needs_two_samples_of_one_size(photo):
    with pytest.raises(InputError, match="at least two samples"):
        pixel_diversity([photo], photo)
    with pytest.raises(InputError, match="one size"):
        pixel_diversity([photo, photo[:, 1:]], photo)
    with pytest.raises(InputError, match="flat source"):
        pixel_diversity([photo, photo], torch.zeros(3, 8, 8))
