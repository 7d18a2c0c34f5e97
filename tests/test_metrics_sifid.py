"""SIFID and the Fréchet distance it rests on."""

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import ImageFilter

from dropgan.errors import InputError
from dropgan.examples import example
from dropgan.image import read_image, to_pil
from dropgan.metrics import frechet_distance, sifid
from dropgan.metrics.sifid import feature_statistics, inception_block_features


@pytest.fixture(scope="module")
def cache(metrics_cache):
    return metrics_cache


@pytest.fixture(scope="module")
def photo():
    return read_image(example("balloons"))


def _blur(x, radius):
    return read_image(to_pil(x).filter(ImageFilter.GaussianBlur(radius)))


def _noise(x, sigma, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def _frechet_by_sqrtm(m1, c1, m2, c2):
    """The textbook formula with a general matrix square root, as a reference."""
    return ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)


def test_frechet_distance_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 8)), rng.normal(size=(300, 8)) @ rng.normal(size=(8, 8))
    stats = (*feature_statistics(a), *feature_statistics(b + 1))
    assert frechet_distance(*stats) == pytest.approx(_frechet_by_sqrtm(*stats), rel=1e-9)


def test_frechet_distance_is_finite_and_zero_for_singular_equal_covariances():
    rng = np.random.default_rng(1)
    few = rng.normal(size=(5, 16))  # fewer samples than dimensions: rank-deficient covariance
    m, c = feature_statistics(few)
    assert frechet_distance(m, c, m, c) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(m, c, m + 1, c) == pytest.approx(16.0, rel=1e-9)


def test_features_are_positions_by_64_channels(cache, photo):
    f = inception_block_features(photo, cache)
    h, w = photo.shape[1:]
    assert f.shape == (((h - 3) // 2 - 1) * ((w - 3) // 2 - 1), 64)
    assert (f >= 0).all() and f.max() > 0  # after a ReLU, not all dead


def test_sifid_of_an_image_with_itself_is_zero(cache, photo):
    assert sifid(photo, photo, cache) == pytest.approx(0.0, abs=1e-6)


def test_sifid_grows_with_noise(cache, photo):
    values = [sifid(photo, _noise(photo, s), cache) for s in (0.01, 0.03, 0.1, 0.3)]
    assert values[0] > 0
    assert values == sorted(values) and values[-1] > 10 * values[0]


def test_sifid_grows_with_blur(cache, photo):
    values = [sifid(photo, _blur(photo, r), cache) for r in (0.5, 1, 2, 4)]
    assert values[0] > 0
    assert values == sorted(values) and values[-1] > 10 * values[0]


def test_sifid_compares_images_of_different_sizes(cache, photo):
    crop = photo[:, :120, :150]
    assert sifid(photo, crop, cache) < sifid(photo, _blur(crop, 2), cache)


def test_sifid_rejects_tiny_images(cache):
    with pytest.raises(InputError, match="at least 7x7"):
        sifid(torch.rand(3, 6, 30), torch.rand(3, 30, 30), cache)
