"""Fast evaluation: coherence and completeness by PatchMatch against exhaustive search, and
dropgan eval over images on the batch pool."""

from __future__ import annotations

import pytest
import torch

import dropgan
from dropgan.errors import InputError
from dropgan.image import write_image
from dropgan.metrics import evaluate_folders
from dropgan.metrics.patch_stats import coherence, completeness, mean_nn_distance, nn_distances
from dropgan.pyramid import resize

LIGHT = ["coherence", "completeness", "diversity"]


@pytest.fixture(scope="module")
def sample(small_photo) -> torch.Tensor:
    """A GPNN sample of the 96x64 photo: 5220 patches each, enough for PatchMatch to run."""
    return dropgan.generate(small_photo, 1, seed=1, nn="exact", iters=2, levels=3)[0]


@pytest.mark.parametrize("direction", ["coherence", "completeness"])
def test_patchmatch_distances_bound_the_exact_ones_and_the_estimate_is_close(
    small_photo, sample, direction
):
    q, k = (sample, small_photo) if direction == "coherence" else (small_photo, sample)
    exact = nn_distances(q, k)
    approx = nn_distances(q, k, search="patchmatch")
    assert approx.shape == exact.shape == (90 * 58,)
    # a match found can be no nearer than the nearest (up to the exact search's rounding)
    assert bool((approx >= exact - 1e-6).all())
    assert float(approx.mean()) > float(exact.mean())  # PatchMatch alone misses some
    estimate, distances = mean_nn_distance(q, k, search="patchmatch")
    assert torch.equal(distances, approx)
    truth = float(exact.mean())
    # the corrected estimate is closer than PatchMatch's own mean, and within 5 %
    assert abs(estimate - truth) < abs(float(approx.mean()) - truth)
    assert abs(estimate - truth) < 0.05 * truth
    function = coherence if direction == "coherence" else completeness
    assert function(sample, small_photo, search="patchmatch") == estimate
    assert function(sample, small_photo) == pytest.approx(truth, rel=1e-6)


def test_patchmatch_on_identical_images_is_zero(small_photo):
    estimate, distances = mean_nn_distance(small_photo, small_photo, search="patchmatch")
    assert estimate < 1e-6 and float(distances.max()) == 0.0


def test_unknown_search_is_an_input_error(small_photo):
    with pytest.raises(InputError, match="unknown search 'faiss'"):
        coherence(small_photo, small_photo, search="faiss")


@pytest.fixture(scope="module")
def folders(fixtures_dir, tmp_path_factory):
    """Two real images at 48x32 and two samples of each (flips and a shift)."""
    root = tmp_path_factory.mktemp("eval")
    (root / "real").mkdir()
    (root / "fake").mkdir()
    for stem in ("1", "2"):
        x = resize(dropgan.read_image(fixtures_dir / "sigd16" / f"{stem}.jpg"), (32, 48))
        x = x.clamp(0, 1)
        write_image(x, root / "real" / f"{stem}.png")
        write_image(x.flip(2), root / "fake" / f"{stem}_0.png")
        write_image(torch.roll(x, 5, 2), root / "fake" / f"{stem}_1.png")
    return root / "real", root / "fake"


def test_evaluation_on_two_workers_equals_in_process(folders):
    real, fake = folders
    one = evaluate_folders(real, fake, metrics=LIGHT, search="exact", max_queries=None)
    two = evaluate_folders(
        real, fake, metrics=LIGHT, search="exact", max_queries=None, workers=2,
        threads_per_worker=1,
    )  # fmt: skip
    assert [r["image"] for r in two] == ["1", "2"]
    for a, b in zip(one, two, strict=True):
        assert a.keys() == b.keys() and a["image"] == b["image"]
        for key in ("coherence", "completeness", "diversity"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), key
    # on images this small (below 4M patch pairs) PatchMatch hands over to exact search
    fast = evaluate_folders(real, fake, metrics=LIGHT, max_queries=None)
    for a, b in zip(one, fast, strict=True):
        assert b["coherence"] == pytest.approx(a["coherence"], rel=1e-6)
