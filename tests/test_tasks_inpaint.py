import pytest
import torch
import torch.nn.functional as F

import dropgan
from dropgan.patches import extract_patches
from dropgan.pyramid import level_sizes, pyramid, resize
from dropgan.search import BACKENDS, ExactSearch
from dropgan.tasks.inpaint import steer_hole

MAGENTA = torch.tensor([1.0, 0.0, 1.0])


@pytest.fixture(scope="module")
def photo(small_photo):
    return resize(small_photo, (48, 72)).clamp(0, 1)


@pytest.fixture(scope="module")
def hole():
    m = torch.zeros(48, 72, dtype=torch.bool)
    m[18:30, 30:44] = True
    return m


def _paint(image: torch.Tensor, mask: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    out = image.clone()
    out[:, mask] = colour[:, None]
    return out


def test_inpainting_never_copies_the_hole_and_keeps_the_rest(photo, hole):
    # the photo has nothing near magenta; the hole (and so the initial guess) is magenta
    assert (photo - MAGENTA[:, None, None]).abs().amax(0).min() > 0.3
    y = dropgan.inpaint(_paint(photo, hole, MAGENTA), hole, nn="exact", iters=2).image
    assert y.shape == photo.shape
    assert (y - MAGENTA[:, None, None]).abs().amax(0).min() > 0.3
    far = F.max_pool2d(hole[None, None].float(), 29, 1, 14)[0, 0] == 0
    assert (y - photo).abs()[:, far].max() < 0.01


def test_no_level_offers_a_key_that_the_hole_reaches(photo, hole, monkeypatch):
    # every key the engine may choose, at every level, must be a patch of the unpainted
    # photo's pyramid: the hole's colour reaches none of them
    calls = []

    class Recording(ExactSearch):
        name = "recording"

        def search(self, queries, keys, alpha, layout, valid_keys=None):
            calls.append(valid_keys)
            return super().search(queries, keys, alpha, layout, valid_keys)

    monkeypatch.setitem(BACKENDS, Recording.name, Recording)
    painted = _paint(photo, hole, MAGENTA)
    dropgan.inpaint(painted, hole, levels=3, iters=1, nn=Recording.name)
    sizes = level_sizes((48, 72), 0.75, 3)
    clean = [extract_patches(x[None], 7)[0] for x in pyramid(photo, sizes)]
    dirty = [extract_patches(x[None], 7)[0] for x in pyramid(painted, sizes)]
    seen = set()
    for valid in calls:
        assert valid is not None
        level = next(n for n, c in enumerate(clean) if c.shape[0] == valid.shape[0])
        seen.add(level)
        assert valid.any() and not valid.all()
        assert (clean[level][valid] - dirty[level][valid]).abs().max() < 1e-6
    assert seen == {0, 1, 2, 3}


def test_the_painted_colour_steers_the_fill(photo):
    hole = torch.zeros(48, 72, dtype=torch.bool)
    hole[8:20, 8:22] = True  # on bare sand
    sand = photo[:, 30:46, 2:20].mean(dim=(1, 2))
    fills = {}
    for name, colour in (("sand", sand), ("red", torch.tensor([0.6, 0.1, 0.1]))):
        y = dropgan.inpaint(_paint(photo, hole, colour), hole, nn="exact", iters=1).image
        fills[name] = y[:, hole].mean(dim=1)
    redness = {k: float(v[0] - v[1]) for k, v in fills.items()}
    assert redness["red"] > redness["sand"] + 0.1, redness


def test_auto_steer_keeps_a_painted_hole_and_neutralises_an_unpainted_one(photo, hole):
    painted = _paint(photo, hole, MAGENTA)
    assert torch.equal(steer_hole(painted, hole, "auto", 7), painted)
    # an unpainted hole (the photo itself) gets the mean colour of the ring around it
    steered = steer_hole(photo, hole, "auto", 7)
    ring = (F.max_pool2d(hole[None, None].float(), 15, 1, 7)[0, 0] > 0) & ~hole
    torch.testing.assert_close(
        steered[:, hole], photo[:, ring].mean(1, keepdim=True).expand(3, int(hole.sum()))
    )
    assert torch.equal(steered[:, ~hole], photo[:, ~hole])
    assert torch.equal(steer_hole(photo, hole, "painted", 7), photo)
    with pytest.raises(dropgan.InputError, match="steer"):
        steer_hole(photo, hole, "blue", 7)


def test_inpainting_refuses_bad_masks(photo, hole):
    with pytest.raises(dropgan.InputError, match="same size"):
        dropgan.inpaint(photo, hole[:40])
    with pytest.raises(dropgan.InputError, match="empty"):
        dropgan.inpaint(photo, torch.zeros(48, 72))
    with pytest.raises(dropgan.InputError, match="whole image"):
        dropgan.inpaint(photo, torch.ones(48, 72))
    # not full, but no 7 x 7 patch lies outside it
    stripes = torch.zeros(48, 72)
    stripes[::6] = 1
    with pytest.raises(dropgan.InputError, match="nothing is left"):
        dropgan.inpaint(photo, stripes, nn="exact")
