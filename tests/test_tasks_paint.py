import pytest
import torch

from dropgan.errors import InputError
from dropgan.image import read_image, write_image
from dropgan.metrics import coherence
from dropgan.metrics.restoration import rgb_to_y
from dropgan.pyramid import resize
from dropgan.tasks.paint import paint2image

FAST = {"nn": "exact", "iters": 3}


@pytest.fixture(scope="module")
def source_and_paint(fixtures_dir):
    """Cows on grass (SIGD16 #9) at 64 x 96, and a 56 x 84 painting in SinGAN's style: the
    grass's median colour with four dark blobs where cows should go."""
    src = resize(read_image(fixtures_dir / "sigd16" / "9.jpg"), (64, 96)).clamp(0, 1)
    paint = src.flatten(1).median(dim=1).values[:, None, None].repeat(1, 56, 84)
    yy, xx = torch.meshgrid(torch.arange(56), torch.arange(84), indexing="ij")
    blobs = torch.zeros(56, 84, dtype=torch.bool)
    for cy, cx in [(14, 16), (30, 50), (44, 24), (20, 70)]:
        blobs |= ((yy - cy) / 4) ** 2 + ((xx - cx) / 7) ** 2 <= 1
    paint[:, blobs] = torch.tensor([0.12, 0.1, 0.08])[:, None]
    return src, paint, blobs


def test_painting_takes_the_source_textures_in_its_layout(source_and_paint):
    src, paint, blobs = source_and_paint
    y = paint2image(src, paint, **FAST).image
    assert y.shape == paint.shape
    # textures: the output's patches are near the source's, the flat painting's are not
    ours, painted = coherence(y, src, 5), coherence(paint, src, 5)
    assert ours < 0.5 * painted, (ours, painted)  # measured 0.0008 against 0.0020
    # layout: the dark blobs stay dark (cows), the rest light (grass)
    luma = rgb_to_y(y)
    assert luma[blobs].mean() < luma[~blobs].mean() - 30, (luma[blobs].mean(), luma[~blobs].mean())


def test_more_levels_keep_less_of_the_painting(source_and_paint):
    src, paint, _ = source_and_paint
    shallow = paint2image(src, paint, levels=0, refine=False, nn="exact", iters=1).image
    deep = paint2image(src, paint, levels=3, refine=False, nn="exact", iters=1).image
    away = [float((y - paint).abs().mean()) for y in (shallow, deep)]
    assert away[1] > away[0], away


def test_reproducible_with_metadata(source_and_paint):
    src, paint, _ = source_and_paint
    a = paint2image(src, paint, levels=1, iters=1, seed=5)
    assert torch.equal(a.image, paint2image(src, paint, levels=1, iters=1, seed=5).image)
    assert a.metadata["task"] == "paint2image" and a.metadata["options"] == {"refine": True}
    assert [i["role"] for i in a.metadata["inputs"]] == ["source", "paint"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"levels": 8}, "painting of 84x56 px is too small"),
        ({"engine": "gpdm"}, "does not do paint2image"),
        ({"levels": -1}, "levels"),
    ],
)
def test_bad_inputs_are_one_line_errors(source_and_paint, kwargs, message):
    src, paint, _ = source_and_paint
    with pytest.raises(InputError, match=message) as e:
        paint2image(src, paint, **kwargs)
    assert "\n" not in str(e.value)


def test_cli_writes_the_image_and_reports_bad_depth(wired, tmp_path, source_and_paint, capsys):
    src, paint, _ = source_and_paint
    s, p = write_image(src, tmp_path / "cows.png"), write_image(paint, tmp_path / "blobs.png")
    argv = ["paint2image", "--source", str(s), "--paint", str(p), "--nn", "exact", "--iters", "1"]
    assert wired([*argv, "--quiet", "--out", str(tmp_path)]) == 0
    assert read_image(tmp_path / "cows_blobs_paint.png").shape == paint.shape
    capsys.readouterr()
    status = wired([*argv, "--levels", "8", "--quiet", "--force", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("dropgan: error: ") and err.count("\n") == 1, err
