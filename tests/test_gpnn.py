import math

import torch

import dropgan
from dropgan.engines.gpnn import GPNNParams, Source, pnn_step, synthesize
from dropgan.image import read_image
from dropgan.metrics import coherence
from dropgan.patches import PatchTable, extract_patches, fold_weights, gaussian_window
from dropgan.pyramid import (
    depth_for_coarsest,
    depth_for_generation,
    level_sizes,
    pyramid,
    resize,
)
from dropgan.search import ExactSearch, PatchLayout


def test_pnn_with_query_key_value_the_same_image_returns_it(small_photo):
    x = small_photo[None]
    v, win = extract_patches(x, 7)[0], gaussian_window(7, 7.0)
    layout = PatchLayout((58, 90), ((58, 90),))
    weights = fold_weights((64, 96), 7, win)
    values = PatchTable.of([small_photo], 7)
    y = pnn_step(x, v, values, win, weights, ExactSearch(), math.inf, layout, 7)
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


def test_coarse_to_fine_reconstructs_the_source_from_its_coarsest_level(small_photo):
    # no noise: the initial guess is the coarsest level itself, so every level's best match is
    # the patch at the same place and the output must be the source
    sizes = level_sizes((64, 96), 0.75, 3)
    levels = pyramid(small_photo, sizes)
    y = synthesize([Source(levels)], levels[-1][None], sizes, GPNNParams(iters=2), ExactSearch())
    assert (y[0] - small_photo).abs().mean() < 0.02


def test_default_depth_matches_the_authors_nine_levels():
    assert depth_for_coarsest((180, 250), 0.75, 14) == 9
    assert level_sizes((180, 250), 0.75, 9)[-1] == (14, 19)


def test_generation_depth_is_the_authors_nine_on_every_sigd16_image(shared_images):
    # SIGD16 is 250 px wide (one image 244, one a 220 px square): the authors use 9 levels.
    for path in sorted((shared_images / "sigd16").glob("*.jpg")):
        size = tuple(read_image(path).shape[-2:])
        assert depth_for_generation(size, 0.75, 7) == 9, path.name


def test_generation_depth_keeps_a_panorama_taller_than_a_patch():
    depth = depth_for_generation((100, 1000), 0.75, 7)
    assert min(level_sizes((100, 1000), 0.75, depth)[-1]) >= 7
    assert depth == depth_for_coarsest((100, 1000), 0.75, 14)


def test_same_seed_same_pixels_and_different_seeds_differ(small_photo):
    kw = dict(n=2, iters=2, nn="exact")
    a = dropgan.generate(small_photo, seed=7, **kw)
    b = dropgan.generate(small_photo, seed=7, **kw)
    c = dropgan.generate(small_photo, seed=8, **kw)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[0], a[1])


def test_a_sample_is_coherent_and_not_a_copy(small_photo):
    (y,) = dropgan.generate(small_photo, seed=0, nn="exact")
    assert y.shape == small_photo.shape
    sample = coherence(y, small_photo)
    noise = coherence(torch.rand_like(small_photo), small_photo)
    blurred = coherence(resize(resize(small_photo, (16, 24)), (64, 96)).clamp(0, 1), small_photo)
    bound = 0.5 * min(noise, blurred)
    assert sample < bound, (sample, noise, blurred)
    # not a copy: a large part of the image moved
    assert (y - small_photo).abs().mean() > 0.05


def test_output_of_another_size_keeps_its_patches(small_photo):
    (y,) = dropgan.generate(small_photo, size=(48, 140), iters=3, nn="exact")
    assert y.shape == (3, 48, 140)
    assert coherence(y, small_photo) < 0.5 * coherence(torch.rand(3, 48, 140), small_photo)
