import pytest
import torch

import dropgan
from dropgan.image import read_image
from dropgan.metrics import completeness
from dropgan.pyramid import resize


@pytest.fixture(scope="module")
def inputs(fixtures_dir):
    # three unlike images: a painting (blues), birds on an orange sky, cows on grass
    names = ("10.jpg", "4.jpg", "9.jpg")
    return [resize(read_image(fixtures_dir / "sigd16" / n), (32, 40)).clamp(0, 1) for n in names]


def test_a_collage_holds_the_patches_of_every_input(inputs):
    kw = dict(nn="exact", iters=1, coarsest_iters=2)
    y = dropgan.collage(inputs, **kw).image
    assert y.shape == (3, 32, 120)
    bound = 0.005
    for x in inputs:
        assert completeness(y, x) < bound, [completeness(y, x) for x in inputs]
    # the same collage made without the last input does not hold its patches
    without = dropgan.collage(inputs[:2], size=(32, 120), **kw).image
    assert without.shape == (3, 32, 120)
    assert completeness(without, inputs[2]) > 3 * bound


def test_collage_refuses_wildly_different_heights_and_a_single_image():
    with pytest.raises(dropgan.InputError, match="factor 2"):
        dropgan.collage([torch.rand(3, 20, 20), torch.rand(3, 41, 20)])
    with pytest.raises(dropgan.InputError, match="at least two"):
        dropgan.collage([torch.rand(3, 20, 20)])
    with pytest.raises(dropgan.InputError, match="at least two"):
        dropgan.collage(torch.rand(3, 20, 20))
