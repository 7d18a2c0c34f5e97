import torch

from dropgan.pyramid import level_sizes, mask_pyramid, pyramid
from dropgan.tasks.common import region_depth, region_extent, retarget_depth


def test_mask_pyramid_covers_every_pixel_the_hole_reaches():
    # two images that differ only inside the mask must have equal pyramids outside the
    # mask pyramid, whatever the sizes and the ratio
    gen = torch.Generator().manual_seed(0)
    for (h, w), ratio in [((47, 61), 0.75), ((64, 50), 0.8), ((33, 90), 0.5)]:
        x = torch.rand(3, h, w, generator=gen)
        mask = torch.zeros(h, w, dtype=torch.bool)
        mask[10:17, 20:23] = True
        painted = x.clone()
        painted[:, mask] = 5.0
        sizes = level_sizes((h, w), ratio, 4)
        masks = mask_pyramid(mask, sizes)
        assert torch.equal(masks[0], mask)
        for a, b, m in zip(pyramid(x, sizes), pyramid(painted, sizes), masks, strict=True):
            assert m.shape == a.shape[-2:]
            assert (a - b).abs().amax(0)[~m].max() < 1e-6


def test_separate_regions_are_measured_apart_and_nearby_fragments_together():
    m = torch.zeros(120, 160, dtype=torch.bool)
    m[10:30, 10:25] = True  # 20 x 15
    m[80:90, 100:108] = True  # 10 x 8, far away
    assert region_extent(m, 7) == (20, 15)
    # a fragment 3 px to the right of the first region joins it
    m[10:12, 28:40] = True
    assert region_extent(m, 7) == (20, 30)


def test_region_depth_shrinks_the_region_to_about_one_patch():
    m = torch.zeros(180, 250, dtype=torch.bool)
    for side in (7, 14, 28, 56):
        m.zero_()
        m[40 : 40 + side, 60 : 60 + side] = True
        depth = region_depth(m, 0.75, 7)
        assert 5 <= side * 0.75**depth <= 10, (side, depth)
    # a region as large as the image is capped: the image keeps about two patches
    m.fill_(True)
    assert min(level_sizes((180, 250), 0.75, region_depth(m, 0.75, 7))[-1]) >= 7


def test_retarget_depth_follows_the_source_and_keeps_a_small_target_usable():
    # the paper's rule: the source's smaller side is about four patches at the coarsest level
    depth = retarget_depth([(168, 250)], (168, 400), 0.8, 7)
    assert 0.8 * 28 < level_sizes((168, 250), 0.8, depth)[-1][0] <= 28
    # a much lower target caps the depth so that it still holds patches
    depth = retarget_depth([(168, 250)], (30, 250), 0.8, 7)
    assert level_sizes((30, 250), 0.8, depth)[-1][0] >= 7
