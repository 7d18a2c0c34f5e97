import torch

import dropgan
from dropgan.image import read_image
from dropgan.metrics import coherence
from dropgan.pyramid import resize


def _layout(image: torch.Tensor) -> torch.Tensor:
    """The coarse brightness layout: an 6 x 8 grey thumbnail, zero-mean."""
    g = resize(image.mean(0, keepdim=True), (6, 8)).flatten()
    return g - g.mean()


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    la, lb = _layout(a), _layout(b)
    return float((la * lb).sum() / (la.norm() * lb.norm()))


def test_analogy_has_the_layout_of_b_and_the_patches_of_a(fixtures_dir):
    # A: black balls on a lawn; B: grey stones and an orange ball on planks
    a = resize(read_image(fixtures_dir / "analogy" / "209.jpg"), (64, 64)).clamp(0, 1)
    b = resize(read_image(fixtures_dir / "analogy" / "208.jpg"), (56, 72)).clamp(0, 1)
    y = dropgan.analogy(a, b, nn="exact", iters=2).image
    assert y.shape == b.shape
    with_b, with_a = _correlation(y, b), _correlation(y, resize(a, (56, 72)))
    assert with_b > 0.8 and with_b > with_a + 0.3, (with_b, with_a)
    out = coherence(y, a)
    assert out < 0.2 * coherence(b, a), (out, coherence(b, a))
