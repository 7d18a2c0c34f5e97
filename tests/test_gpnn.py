import math

import pytest
import torch

import dropgan
from dropgan.engines.gpnn import GPNNParams, Source, pnn_step, synthesize
from dropgan.errors import InputError
from dropgan.metrics import coherence
from dropgan.patches import PatchTable, extract_patches, fold_weights, gaussian_window
from dropgan.pyramid import (
    authors_level_sizes,
    authors_pyramid,
    depth_for_coarsest,
    depth_for_generation,
    level_sizes,
    pyramid,
    resize,
    resize_right,
)
from dropgan.search import BACKENDS, ExactSearch, PatchLayout
from dropgan.tasks.common import make_plan


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


def test_generation_depth_is_the_authors_nine_on_every_sigd16_image():
    # SIGD16 is 250 px wide (one image 244, one a 220 px square): the authors use 9 levels.
    for size in SIGD16_SIZES:
        assert depth_for_generation(size, 0.75, 7) == 9, size


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


# --- key schemes and the authors' recipe ------------------------------------------------------

# (height, width) of the 16 SIGD16 images (../shared/images/sigd16/N.jpg, N = 1..16)
SIGD16_SIZES = [
    (167, 250), (166, 250), (188, 250), (164, 244), (167, 250), (167, 250), (220, 220),
    (167, 250), (141, 250), (196, 250), (167, 250), (188, 250), (188, 250), (167, 250),
    (187, 250), (167, 250),
]  # fmt: skip


class RecordingSearch(ExactSearch):
    """Exact search that keeps the keys of every call."""

    name = "recording"
    calls: list[torch.Tensor] = []

    def search(self, queries, keys, alpha, layout, valid_keys=None):
        RecordingSearch.calls.append(keys.clone())
        return super().search(queries, keys, alpha, layout, valid_keys)


def _record(monkeypatch, image, **params):
    monkeypatch.setitem(BACKENDS, RecordingSearch.name, RecordingSearch)
    RecordingSearch.calls = []
    dropgan.generate(image, seed=3, levels=2, iters=3, nn=RecordingSearch.name, **params)
    return RecordingSearch.calls


def _patches(image):
    return extract_patches(image[None], 7)[0]


def _level_keys(levels, upscale):
    """Per finer level n (finest first, without the coarsest): (blurred, sharp) key patches."""
    return [
        (_patches(upscale(levels[n + 1], levels[n].shape[-2:])), _patches(levels[n]))
        for n in range(len(levels) - 1)
    ]


@pytest.mark.parametrize("scheme", ["sharp", "blurred"])
def test_key_scheme_decides_what_each_finer_step_searches(monkeypatch, small_photo, scheme):
    calls = _record(monkeypatch, small_photo, keys=scheme)
    levels = pyramid(small_photo, level_sizes((64, 96), 0.75, 2))
    # one step at the coarsest level (K = V = its own patches), then 3 per finer level
    assert len(calls) == 1 + 3 + 3
    torch.testing.assert_close(calls[0], _patches(levels[2]))
    for n, (blurred, sharp) in zip([1, 0], _level_keys(levels, resize)[::-1], strict=True):
        steps = calls[1:4] if n == 1 else calls[4:7]
        torch.testing.assert_close(steps[0], blurred)  # the first step: blurred in both
        for keys in steps[1:]:
            torch.testing.assert_close(keys, blurred if scheme == "blurred" else sharp)
            assert not torch.allclose(blurred, sharp, atol=1e-3)  # the two really differ


def test_authors_recipe_searches_their_pyramid_upscaled_by_resize_right(monkeypatch, small_photo):
    calls = _record(monkeypatch, small_photo, recipe="authors")
    sizes = authors_level_sizes((64, 96), 0.75, 2)
    levels = authors_pyramid(small_photo, sizes, 0.75)  # each level from the one above

    def upscale(x, size):
        return resize_right(x, size, 4 / 3)

    torch.testing.assert_close(calls[0], _patches(levels[2]))
    finer = _level_keys(levels, upscale)[::-1]
    for steps, (blurred, _) in zip([calls[1:4], calls[4:7]], finer, strict=True):
        for keys in steps:
            torch.testing.assert_close(keys, blurred)


def test_recipe_sets_keys_and_fold_weights_unless_given():
    assert (GPNNParams().keys, GPNNParams().blend_sigma) == ("sharp", 7.0)
    authors = GPNNParams(recipe="authors")
    assert authors.keys == "blurred"
    # their fold.py: exp(-(u / 1.7)^2 / 2) over u = linspace(-1, 1, p), as a std in pixels
    u = torch.linspace(-1, 1, 7)
    theirs = torch.exp(-0.5 * (u / 1.7) ** 2)
    torch.testing.assert_close(gaussian_window(7, authors.blend_sigma), theirs[:, None] * theirs)
    mixed = GPNNParams(recipe="authors", keys="sharp", blend_sigma=math.inf)
    assert (mixed.keys, mixed.blend_sigma) == ("sharp", math.inf)
    with pytest.raises(InputError, match="recipe"):
        GPNNParams(recipe="paper")


def _authors_plan(task="generate"):
    return make_plan(task, "gpnn", {"recipe": "authors"}, "cpu")


def test_authors_recipe_gives_their_level_count_and_sizes_on_sigd16():
    plan = _authors_plan()
    for h, w in SIGD16_SIZES:
        rule = lambda r, p, s=(h, w): depth_for_generation(s, r, p)  # noqa: E731
        depth = plan.depth([(h, w)], (h, w), rule)
        assert depth == 9, (h, w)  # their main.py: generation(num_levels=9)
        # their make_pyramid: ceil(H * 0.75**n), here in exact integer arithmetic
        expected = [(-(-h * 3**n // 4**n), -(-w * 3**n // 4**n)) for n in range(10)]
        assert plan.level_sizes((h, w), depth, "image") == expected, (h, w)
    assert plan.level_sizes((220, 220), 9, "image")[-1] == (17, 17)
    assert plan.level_sizes((141, 250), 9, "image")[-1] == (11, 19)


def test_authors_level_count_is_fixed_per_task_unlike_our_rules():
    big = (512, 512)
    plan = _authors_plan()
    assert plan.depth([big], big, lambda r, p: 99) == 9  # the task's rule is not asked
    ours = make_plan("generate", "gpnn", {}, "cpu")
    assert ours.depth([big], big, lambda r, p: depth_for_generation(big, r, p)) > 9
    for task, levels, ratio in [("retarget", 8, 0.8), ("edit", 5, 0.75), ("inpaint", 5, 0.75)]:
        plan = _authors_plan(task)
        assert plan.depth([big], big, lambda r, p: 0) == levels
        assert plan.params.ratio == ratio
    # a given option wins over the recipe's value
    given = make_plan("retarget", "gpnn", {"recipe": "authors", "alpha": 0.1}, "cpu")
    assert given.params.alpha == 0.1


def test_authors_recipe_end_to_end_on_a_small_image(small_photo):
    result = dropgan.generate(small_photo, seed=0, recipe="authors", iters=1, nn="exact")
    params = result.metadata["params"]
    assert (params["recipe"], params["keys"]) == ("authors", "blurred")
    assert params["blend_sigma"] == pytest.approx(5.1)
    assert GPNNParams(**params).recipe == "authors"  # the metadata goes back into the API
    # 9 levels would leave a 5 px high coarsest level: one fewer, the deepest that holds a patch
    assert result.metadata["levels"] == 8
    assert min(authors_level_sizes((64, 96), 0.75, 8)[-1]) >= 7
    assert coherence(result[0], small_photo) < 0.5 * coherence(torch.rand(3, 64, 96), small_photo)


def test_resize_right_matches_the_authors_resize_right():
    # reference values from their resize_right.resize(x, (1, 0.75, 0.75), (1, 4, 6)), run once
    x = (torch.arange(35, dtype=torch.float32).reshape(1, 5, 7) % 6) / 5
    theirs = [-0.0116615, 0.1964706, 0.4730857, 0.7934160, 0.8075987, -0.0569453]
    torch.testing.assert_close(
        resize_right(x, (4, 6), 0.75)[0, 0], torch.tensor(theirs), atol=1e-6, rtol=0
    )
    # ... and resize_right.resize(that, (1, 4/3, 4/3), (1, 5, 7)), first row
    up = [0.0241322, 0.1964706, 0.3992531, 0.6496528, 0.8390828, 0.8075987, 0.1189976]
    y = resize_right(resize_right(x, (4, 6), 0.75), (5, 7), 4 / 3)
    torch.testing.assert_close(y.flatten()[:7], torch.tensor(up), atol=1e-6, rtol=0)
