import pytest
import torch

from dropgan.errors import InputError
from dropgan.image import read_image, write_image
from dropgan.pyramid import resize
from dropgan.tasks.harmonize import harmonize, harmonize_depth, soft_mask

FAST = {"nn": "exact", "iters": 3}


@pytest.fixture(scope="module")
def composite(fixtures_dir):
    """Starry Night (SIGD16 #10) at 56 x 70 with the orange ball of SIGD16 #3 pasted in:
    background, naive composite, mask."""
    bg = resize(read_image(fixtures_dir / "sigd16" / "10.jpg"), (56, 70)).clamp(0, 1)
    ball = read_image(fixtures_dir / "sigd16" / "3.jpg")
    r, (cy, cx) = 10, (146, 168)  # the ball's centre in the 250 x 188 photo
    yy, xx = torch.meshgrid(torch.arange(2 * r), torch.arange(2 * r), indexing="ij")
    disc = (yy - r + 0.5) ** 2 + (xx - r + 0.5) ** 2 <= (r - 1) ** 2
    mask = torch.zeros(56, 70, dtype=torch.bool)
    mask[14 : 14 + 2 * r, 30 : 30 + 2 * r] = disc
    naive = bg.clone()
    naive[:, mask] = ball[:, cy - r : cy + r, cx - r : cx + r][:, disc]
    return bg, naive, mask


def _palette_distance(pixels: torch.Tensor, palette: torch.Tensor) -> float:
    """Mean squared RGB distance from each of ``pixels`` (3, n) to its nearest colour of
    ``palette`` (3, m): how foreign the pixels' colours are to the palette."""
    return float(torch.cdist(pixels.T, palette.T).min(dim=1).values.pow(2).mean())


def test_object_keeps_its_shape_and_takes_the_background_colours(composite):
    bg, naive, mask = composite
    y = harmonize(bg, naive, mask, **FAST).image
    assert y.shape == bg.shape
    # colours: the orange ball's colours are foreign to the painting, the output's are not
    palette = bg.flatten(1)
    before = _palette_distance(naive[:, mask], palette)
    after = _palette_distance(y[:, mask], palette)
    assert after < 0.05 * before, (before, after)  # measured 0.058 -> 0.0004
    mean_gap = [float((img[:, mask].mean(1) - bg.mean((1, 2))).norm()) for img in (naive, y)]
    assert mean_gap[1] < mean_gap[0], mean_gap
    # shape: where the output departs from the background is the object's disc, not more
    change = (y - bg).abs().sum(0)
    changed = change > change[mask].mean() / 2
    iou = float((changed & mask).sum() / (changed | mask).sum())
    assert iou > 0.7, iou
    # nothing moves beyond the blended rim
    far = soft_mask(mask) == 0
    assert far.sum() > 100 and torch.equal(y[:, far], bg[:, far])


def test_soft_mask_dilates_then_blurs():
    m = torch.zeros(90, 90, dtype=torch.bool)
    m[40:50, 40:50] = True
    w = soft_mask(m)
    assert float(w.max()) == pytest.approx(1.0) and float(w.min()) == 0.0
    assert bool((w[m] > 0.5).all())  # inside: mostly the object
    assert float(w[45, 49 + 7]) > 0.2  # the dilated rim is still blended in
    assert float(w[45, 49 + 7 + 21]) == 0.0  # beyond dilation + 4 sigma: untouched
    assert torch.allclose(w, w.T) and torch.allclose(w, w.flip(0))


def test_default_depth_keeps_the_object_large_at_the_coarsest_level():
    m = torch.zeros(201, 256, dtype=torch.bool)
    m[40:117, 60:195] = True  # the extent of SinGAN's star destroyer
    assert harmonize_depth(m, 0.75, 7) == 2
    small = torch.zeros(201, 256, dtype=torch.bool)
    small[10:14, 10:14] = True
    assert harmonize_depth(small, 0.75, 7) == 1


def test_reproducible_with_metadata(composite):
    bg, naive, mask = composite
    a = harmonize(bg, naive, mask, levels=1, nn="exact", iters=1)
    b = harmonize(bg, naive, mask, levels=1, nn="exact", iters=1)
    assert torch.equal(a.image, b.image)
    assert a.metadata["task"] == "harmonize" and a.metadata["levels"] == 1
    assert [i["role"] for i in a.metadata["inputs"]] == ["background", "naive", "mask"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("mask_size", "mask is 70x50 px but the background 70x56"),
        ("naive_size", "naive composite is 60x56 px"),
        ("empty", "mask is empty"),
        ("engine", "does not do harmonize"),
    ],
)
def test_bad_inputs_are_one_line_errors(composite, change, message):
    bg, naive, mask = composite
    kwargs = {}
    if change == "mask_size":
        mask = mask[:50]
    elif change == "naive_size":
        naive = naive[:, :, :60]
    elif change == "empty":
        mask = torch.zeros_like(mask)
    else:
        kwargs["engine"] = "gpdm"
    with pytest.raises(InputError, match=message) as e:
        harmonize(bg, naive, mask, **kwargs)
    assert "\n" not in str(e.value)


def test_cli_writes_the_harmonized_image_and_refuses_a_wrong_mask(
    wired, tmp_path, composite, capsys
):
    bg, naive, mask = composite
    paths = {n: write_image(v, tmp_path / f"{n}.png") for n, v in (("bg", bg), ("naive", naive))}
    write_image(mask.float()[None].expand(3, -1, -1), tmp_path / "mask.png")
    write_image(mask.float()[None, :50].expand(3, -1, -1), tmp_path / "small.png")
    common = ["harmonize", "--source", str(paths["bg"]), "--naive", str(paths["naive"])]
    run = ["--levels", "1", "--iters", "1", "--nn", "exact", "--quiet", "--out", str(tmp_path)]
    assert wired([*common, "--mask", str(tmp_path / "mask.png"), *run]) == 0
    assert read_image(tmp_path / "naive_harmonized.png").shape == bg.shape
    capsys.readouterr()
    status = wired([*common, "--mask", str(tmp_path / "small.png"), *run, "--force"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("dropgan: error: the mask is 70x50 px")
    assert err.count("\n") == 1
