import pytest
import torch

import dropgan
from dropgan.metrics import coherence
from dropgan.pyramid import resize


@pytest.fixture(scope="module")
def photo_and_edit(small_photo):
    x = resize(small_photo, (48, 72)).clamp(0, 1)
    edited = x.clone()
    edited[:, 4:20, 6:22] = x[:, 28:44, 50:66]  # red flowers pasted onto bare sand
    return x, edited


def test_edit_blends_the_change_into_the_original(photo_and_edit):
    x, edited = photo_and_edit
    (y,) = dropgan.edit(x, edited, nn="exact", iters=2)
    assert y.shape == x.shape
    out, naive = coherence(y, x), coherence(edited, x)
    assert out < 0.5 * naive, (out, naive)
    # redrawn around the edit, kept far from it
    near = (y - edited).abs()[:, :26, :28].mean()
    far = (y - edited).abs()[:, 30:, 36:].mean()
    assert near > 0.03 and near > 3 * far, (near, far)
    # and the edit is kept, not undone: the pasted block stays closer to the edit than to
    # what was there before
    block = (slice(None), slice(4, 20), slice(6, 22))
    to_edit, to_original = (y - edited).abs()[block].mean(), (y - x).abs()[block].mean()
    assert to_edit < 0.5 * to_original, (to_edit, to_original)


def test_noise_gives_variants_reproducible_by_seed(photo_and_edit):
    x, edited = photo_and_edit
    kw = dict(n=2, sigma=0.3, nn="exact", iters=1, levels=1)
    a, b = dropgan.edit(x, edited, seed=3, **kw)
    again = dropgan.edit(x, edited, seed=3, **kw)
    assert torch.equal(a, again[0]) and torch.equal(b, again[1])
    assert (a - b).abs().mean() > 0.005


def test_edit_refuses_other_sizes_and_no_edit(photo_and_edit):
    x, _ = photo_and_edit
    with pytest.raises(dropgan.InputError, match="same size"):
        dropgan.edit(x, x[:, :40])
    with pytest.raises(dropgan.InputError, match="does not differ"):
        dropgan.edit(x, x + 0.01)
