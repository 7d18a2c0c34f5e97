import math

import numpy as np
import pytest
import torch

from dropgan.errors import InputError
from dropgan.metrics.restoration import psnr, rgb_to_y, ssim, ssim_window


@pytest.fixture(scope="module")
def pair(small_photo):
    """A photograph and a noisy copy of it (seeded)."""
    g = torch.Generator().manual_seed(0)
    return small_photo, (small_photo + 0.05 * torch.randn(small_photo.shape, generator=g)).clamp(
        0, 1
    )


def test_luma_is_bt601_as_matlab():
    rgb = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    y = rgb_to_y(rgb[:, None, :])[0]
    assert torch.allclose(y, torch.tensor([81.481, 144.553, 40.966, 235.0], dtype=y.dtype))


def test_psnr_of_a_known_error_and_identity(pair):
    x, _ = pair
    assert psnr(x, x) == math.inf
    shifted = torch.full((3, 10, 10), 0.5)
    assert psnr(shifted, shifted + 0.01, channel="rgb") == pytest.approx(40.0, abs=1e-4)
    # on Y a uniform RGB shift d moves the luma by 219 d (the weights sum to 219)
    assert psnr(shifted, shifted + 0.01) == pytest.approx(
        10 * math.log10(255**2 / 2.19**2), abs=1e-4
    )


def test_border_crop_ignores_the_border(pair):
    x, _ = pair
    y = x.clone()
    y[:, :3] = 1 - y[:, :3]
    y[:, :, -3:] = 0
    assert psnr(x, y, border=3) == math.inf and ssim(x, y, border=3) == pytest.approx(1.0)
    assert psnr(x, y) < 25 and ssim(x, y) < 0.99


def test_ssim_bounds_symmetry_and_order(pair):
    x, z = pair
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(x, z) == pytest.approx(ssim(z, x), abs=1e-12)
    noisier = (x + 2 * (z - x)).clamp(0, 1)
    assert 0 < ssim(x, noisier) < ssim(x, z) < 1
    assert ssim(x, 1 - x, channel="rgb") < 0


def _ssim_brute_force(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    """SSIM by its definition, one window position at a time (Wang et al. 2004)."""
    w = ssim_window().numpy()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            values.append(
                ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
            )
    return float(np.mean(values))


def test_ssim_matches_its_definition(pair):
    x, z = pair
    x, z = x[:, :20, :24], z[:, :20, :24]
    want = _ssim_brute_force(rgb_to_y(x).numpy(), rgb_to_y(z).numpy(), 255.0)
    assert ssim(x, z) == pytest.approx(want, abs=1e-10)
    per_channel = [
        _ssim_brute_force(x[c].double().numpy(), z[c].double().numpy(), 1.0) for c in range(3)
    ]
    assert ssim(x, z, channel="rgb") == pytest.approx(np.mean(per_channel), abs=1e-10)


def test_matches_scikit_image(pair):
    metrics = pytest.importorskip("skimage.metrics")
    x, z = pair
    a, b = rgb_to_y(x)[4:-4, 4:-4].numpy(), rgb_to_y(z)[4:-4, 4:-4].numpy()
    kw = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    assert ssim(x, z, border=4) == pytest.approx(
        metrics.structural_similarity(a, b, data_range=255, **kw), abs=1e-9
    )
    assert psnr(x, z, border=4) == pytest.approx(
        metrics.peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9
    )
    xa, za = (t.permute(1, 2, 0).double().numpy() for t in (x, z))
    assert ssim(x, z, channel="rgb") == pytest.approx(
        metrics.structural_similarity(xa, za, data_range=1, channel_axis=2, **kw), abs=1e-9
    )


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        ((3, 20, 20), (3, 20, 21), {}, "one size"),
        ((1, 20, 20), (1, 20, 20), {}, r"\(3, H, W\)"),
        ((3, 20, 20), (3, 20, 20), {"border": -1}, "border"),
        ((3, 20, 20), (3, 20, 20), {"border": 10}, "nothing left"),
        ((3, 20, 20), (3, 20, 20), {"channel": "lab"}, "channel"),
    ],
)
def test_bad_inputs_are_one_line_errors(a, b, kwargs, message):
    for measure in (psnr, ssim):
        with pytest.raises(InputError, match=message) as e:
            measure(torch.rand(a), torch.rand(b), **kwargs)
        assert "\n" not in str(e.value)


def test_ssim_needs_a_whole_window():
    with pytest.raises(InputError, match="at least 11 px"):
        ssim(torch.rand(3, 20, 20), torch.rand(3, 20, 20), border=5)
