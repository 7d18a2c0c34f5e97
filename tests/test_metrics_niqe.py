"""NIQE on real photographs and on edge cases."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import ImageFilter

from dropgan.errors import InputError
from dropgan.image import read_image, to_pil
from dropgan.metrics import niqe
from dropgan.metrics.niqe import _half_matrix, niqe_features

SIGD16 = Path(__file__).parent / "fixtures" / "sigd16"


@pytest.fixture(scope="module")
def cache(metrics_cache):
    return metrics_cache


def _photo(name):
    return read_image(SIGD16 / name)


# A 250x167 photo has only two 96x96 blocks, so NIQE is a noisy estimate; these photos have
# enough texture in both blocks for it to be a stable one.
@pytest.mark.parametrize("name", ["1.jpg", "5.jpg", "10.jpg"])
def test_sharp_photo_scores_better_than_blurred_or_noisy(cache, name):
    x = _photo(name)
    blurred = read_image(to_pil(x).filter(ImageFilter.GaussianBlur(1.5)))
    noisy = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(
        0, 1
    )
    sharp = niqe(x, cache)
    assert 2 < sharp < 6  # natural photos score about 3-5
    assert niqe(blurred, cache) > sharp + 1
    assert niqe(noisy, cache) > sharp + 1


def test_only_whole_blocks_count(cache):
    x = _photo("7.jpg")  # 220x220: one row of pixels beyond 2x2 blocks on each side
    assert niqe(x, cache) == niqe(x[:, :192, :192], cache)


def test_too_small_for_two_blocks_is_a_clear_error(cache):
    with pytest.raises(InputError, match=r"two 96x96 blocks .* got 100x150"):
        niqe(torch.rand(3, 100, 150), cache)


def test_flat_image_has_no_score(cache):
    assert math.isnan(niqe(torch.full((3, 96, 192), 0.5), cache))


def test_features_per_whole_block_and_undefined_without_texture():
    window = np.full((7, 7), 1 / 49)
    texture = np.random.default_rng(0).uniform(0, 255, (200, 300))
    feats = niqe_features(texture, window)
    assert feats.shape == (2 * 3, 36) and np.isfinite(feats).all()
    assert np.isnan(niqe_features(np.full((96, 192), 128.0), window)).any(axis=1).all()


def test_half_size_resampling_keeps_constants_and_averages():
    m = _half_matrix(96)
    assert m.shape == (48, 96)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    ramp = np.arange(96.0)
    # Away from the mirrored edges a symmetric kernel maps a ramp to the pair midpoints.
    np.testing.assert_allclose((m @ ramp)[4:-4], (ramp[0::2] + ramp[1::2])[4:-4] / 2)
