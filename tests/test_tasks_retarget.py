import math

import pytest
import torch

import dropgan
from dropgan.metrics import coherence
from dropgan.pyramid import resize
from dropgan.tasks.retarget import retarget_steps


@pytest.fixture(scope="module")
def photo(small_photo):
    return resize(small_photo, (40, 60)).clamp(0, 1)


@pytest.mark.parametrize(
    ("target", "kw"),
    [
        # 60 -> 84 px is x1.4: two gradual steps
        ((40, 84), {"size": (40, 84)}),
        ((30, 39), {"scale": (0.75, 0.65), "max_step": 2.0}),
    ],
    ids=["wider", "smaller-and-narrower"],
)
def test_retarget_has_the_target_size_and_the_source_patches(photo, target, kw):
    y = dropgan.retarget(photo, nn="exact", iters=1, coarsest_iters=2, **kw).image
    assert y.shape == (3, *target)
    out = coherence(y, photo)
    naive = coherence(resize(photo, target).clamp(0, 1), photo)
    noise = coherence(torch.rand(3, *target, generator=torch.Generator().manual_seed(0)), photo)
    assert out < 0.75 * naive, (out, naive)
    assert out < 0.05 * noise, (out, noise)


def test_gradual_steps_change_no_axis_too_much_and_end_at_the_target():
    for source, target, step in [((100, 100), (100, 300), 1.3), ((180, 250), (60, 400), 1.2)]:
        sizes = retarget_steps(source, target, step)
        assert sizes[-1] == target
        path = [source, *sizes]
        for a, b in zip(path, path[1:], strict=False):
            for u, v in zip(a, b, strict=True):
                assert max(u / v, v / u) <= step * 1.01
        # the fewest steps that can make the largest change
        worst = max(abs(math.log(t / s)) for s, t in zip(source, target, strict=True))
        assert len(sizes) == math.ceil(worst / math.log(step))


def test_retarget_needs_exactly_one_of_size_and_scale(photo):
    with pytest.raises(dropgan.InputError):
        dropgan.retarget(photo)
    with pytest.raises(dropgan.InputError):
        dropgan.retarget(photo, (40, 40), scale=2.0)
    with pytest.raises(dropgan.InputError, match="too small"):
        dropgan.retarget(photo, (5, 72))
