"""SinGAN's applications by injection: paint-to-image, harmonization, editing,
super-resolution and denoising with ``engine="singan"`` (issue 13)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import dropgan
from dropgan.cli import main
from dropgan.engines.singan import SinGANModel, train
from dropgan.engines.singan.pyramid import resize_exact, upscale
from dropgan.engines.singan.sample import output_sizes, sample_image
from dropgan.errors import InputError
from dropgan.tasks.denoise import denoise
from dropgan.tasks.edit import EDIT_DILATION, edit
from dropgan.tasks.harmonize import BLEND_BLUR, harmonize, soft_mask
from dropgan.tasks.paint import kmeans, paint2image, quantize_colors
from dropgan.tasks.superres import superres

#: Small networks and pyramids: every training here takes a second or two.
TINY = {"min_size": 12, "width": 8, "min_width": 8, "max_width": 16}


def _image(h: int, w: int, seed: int) -> torch.Tensor:
    """A smooth random image (a real one's statistics matter little to these tests)."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(1, 3, h // 4, w // 4, generator=g), (h, w), mode="bilinear")[0]


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return _image(40, 48, 0)


@pytest.fixture(scope="module")
def model(image: torch.Tensor) -> SinGANModel:
    return train(image, iters=2, scales=3, seed=0, device="cpu", **TINY)


# --- injection ----------------------------------------------------------------------------------


def _by_hand(model: SinGANModel, prev: torch.Tensor) -> torch.Tensor:
    """The finest generator applied to ``prev`` without noise: G(prev) + prev, [0, 1]
    (images in [-1, 1] are clamped there, as the authors' ``uint8`` resizes clamp)."""
    padded = F.pad(prev, (model.params.pad,) * 4)
    with torch.no_grad():
        y = model.generators[-1](padded, padded)
    return ((y[0] + 1) / 2).clamp(0, 1)


def test_injection_at_the_finest_scale_without_noise_is_g_of_x_plus_x(model) -> None:
    quiet = model.copy()
    quiet.noise_amp[-1] = 0.0
    here = model.size
    # an image smaller than the scale (super-resolution's case) is resized straight to it
    small = torch.rand(3, here[0] - 5, here[1] - 7, generator=torch.Generator().manual_seed(1))
    out = sample_image(quiet, here, start_scale=2, inject=small)
    assert torch.equal(out, _by_hand(model, resize_exact(small[None] * 2 - 1, here).clamp(-1, 1)))
    # one of the scale's size goes through the scale below first, as the authors' in_s
    full = torch.rand(3, *here, generator=torch.Generator().manual_seed(2))
    below = output_sizes(model, here)[1]
    prev = resize_exact(full[None] * 2 - 1, below).clamp(-1, 1)
    prev = upscale(prev, model.scales.factor(2), here)  # clamped, as between scales
    out = sample_image(quiet, here, start_scale=-1, inject=full)  # -1: the finest
    assert torch.equal(out, _by_hand(model, prev))
    # with noise, the output differs by seed; the scales below are not run
    noisy = [
        sample_image(model, here, start_scale=2, inject=full, generator=_gen(s)) for s in (0, 1)
    ]
    assert not torch.equal(noisy[0], noisy[1])


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_without_injection_sampling_is_unchanged(model) -> None:
    # the sampler from the coarsest scale, restated: noise (one channel at scale 0), the
    # previous scale upscaled, one generator step per scale
    gen, x = _gen(5), None
    for n, g in enumerate(model.generators):
        size = model.scales.sizes[n]
        z = torch.randn((1, 1 if n == 0 else 3, *size), generator=gen)
        prev = torch.zeros(1, 3, *size) if x is None else upscale(x, model.scales.factor(n), size)
        padded = F.pad(prev, (model.params.pad,) * 4)
        with torch.no_grad():
            x = g(F.pad(model.noise_amp[n] * z + prev, (model.params.pad,) * 4), padded)
    expected = ((x[0] + 1) / 2).clamp(0, 1)
    assert torch.equal(sample_image(model, generator=_gen(5)), expected)
    assert torch.equal(sample_image(model, generator=_gen(5), inject=None), expected)


@pytest.mark.parametrize("start", [0, 3, -4])
def test_injection_scales_outside_1_to_the_finest_are_one_input_error(model, start) -> None:
    with pytest.raises(InputError, match="injection scale .* from 1 to 2"):
        sample_image(model, start_scale=start, inject=torch.rand(3, 40, 48))


# --- the applications ----------------------------------------------------------------------------


def _check_metadata(result, task: str, start: int) -> None:
    meta = result.metadata
    assert meta["task"] == task and meta["engine"] == "singan"
    assert meta["params"]["start_scale"] == start


def test_harmonize_trains_fast_and_keeps_the_background_away_from_the_object() -> None:
    bg = _image(40, 80, 3)
    naive = bg.clone()
    naive[:, 8:18, 6:16] = torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    mask = torch.zeros(40, 80)
    mask[8:18, 6:16] = 1
    kw = {"engine": "singan", "iters": 2, "scales": 3, "start_scale": 1, "seed": 4, **TINY}
    a = harmonize(bg, naive, mask, **kw)
    b = harmonize(bg, naive, mask, **kw)
    assert a.image.shape == (3, 40, 80) and torch.equal(a.image, b.image)
    _check_metadata(a, "harmonize", 1)
    assert a.metadata["params"]["schedule"] == "fast"  # the applications' default
    outside = soft_mask(mask.bool()) == 0
    assert outside.sum() > 500 and torch.equal(a.image[:, outside], bg[:, outside])
    # the object's pixels were redrawn, not pasted back
    assert not torch.equal(a.image[:, 8:18, 6:16], naive[:, 8:18, 6:16])


def test_edit_blends_by_the_dilated_edit_and_keeps_the_rest() -> None:
    x = _image(48, 96, 6)
    y = x.clone()
    y[:, 4:12, 4:12] = x[:, 30:38, 60:68]  # a patch copied elsewhere
    m = train(x, iters=2, scales=3, seed=1, device="cpu", **TINY)
    out = edit(x, y, n=2, model=m, start_scale=1, seed=3)
    assert [tuple(o.shape) for o in out] == [(3, 48, 96)] * 2
    _check_metadata(out, "edit", 1)
    assert out.metadata["options"]["blend"] is True
    weight = soft_mask(dropgan.tasks.edit.edited_pixels(x, y), EDIT_DILATION, BLEND_BLUR)
    outside = weight == 0
    assert outside.sum() > 1000
    for o in out:
        assert torch.equal(o[:, outside], x[:, outside])
    assert not torch.equal(out[0], out[1])  # variants differ by their noise
    again = edit(x, y, n=1, start=1, model=m, start_scale=1, seed=3)
    assert torch.equal(again[0], out[1])  # variant i depends on (seed, i) only
    # a mask given explicitly is the one blended by
    mask = torch.zeros(48, 96)
    mask[:20, :20] = 1
    given = edit(x, y, mask=mask, model=m, start_scale=1, seed=3).image
    far = soft_mask(mask.bool(), EDIT_DILATION, BLEND_BLUR) == 0
    assert torch.equal(given[:, far], x[:, far])


def test_paint2image_injects_the_painting_at_its_size(model, image) -> None:
    paint = torch.zeros(3, 36, 60)
    paint[:, :18] = torch.tensor([0.2, 0.5, 0.9])[:, None, None]
    paint[:, 18:] = torch.tensor([0.3, 0.6, 0.2])[:, None, None]
    a = paint2image(image, paint, model=model, seed=2)
    assert a.image.shape == (3, 36, 60)
    _check_metadata(a, "paint2image", 1)  # the task's default injection scale
    assert a.metadata["options"] == {"refine": False}  # SinGAN injects once
    assert torch.equal(a.image, paint2image(image, paint, model=model, seed=2).image)
    q = paint2image(image, paint, model=model, seed=2, quantize=True)
    assert q.metadata["options"] == {"refine": False, "quantize": True}
    assert not torch.equal(q.image, a.image)


def test_quantize_colors_maps_the_painting_to_the_sources_centres() -> None:
    g = _gen(0)
    colours = torch.rand(5, 3, generator=g)
    src = colours[torch.randint(5, (30 * 40,), generator=g)].T.reshape(3, 30, 40)
    src = src + 0.01 * torch.randn(src.shape, generator=g)
    paint = colours[torch.randint(5, (20 * 20,), generator=g)].T.reshape(3, 20, 20)
    out = quantize_colors(paint + 0.05, src)
    centres, _ = kmeans(src.reshape(3, -1).T, 5)
    # every pixel is one of the source's centres, the one nearest to its colour here
    pixels = out.reshape(3, -1).T
    assert (pixels[:, None] == centres[None]).all(dim=2).any(dim=1).all()
    nearest = centres[torch.cdist(paint.reshape(3, -1).T, centres).argmin(dim=1)]
    assert torch.allclose(out.reshape(3, -1).T, nearest)
    # and each centre is within the noise of a true colour
    assert float(torch.cdist(centres, colours).amin(dim=1).max()) < 0.02


def test_kmeans_matches_a_brute_force_assignment() -> None:
    pts = torch.rand(200, 3, generator=_gen(1))
    centres, labels = kmeans(pts, 4, seed=3)
    assert torch.equal(labels, torch.cdist(pts, centres).argmin(dim=1))
    means = torch.stack([pts[labels == k].mean(dim=0) for k in range(4)])
    assert torch.allclose(means, centres, atol=1e-6)  # a fixed point of Lloyd's
    assert torch.equal(kmeans(pts, 4, seed=3)[0], centres)


def test_superres_trains_on_the_image_and_upscales_by_the_finest_generator() -> None:
    x = _image(24, 32, 8)
    kw = {"engine": "singan", "iters": 2, "scales": 3, "seed": 1, "width": 8, "min_width": 8}
    a = superres(x, 2, **kw)
    assert a.image.shape == (3, 48, 64)
    meta = a.metadata
    assert meta["engine"] == "singan" and meta["params"]["start_scale"] == -1
    assert meta["params"]["rec_weight"] == 100 and meta["params"]["min_size"] == 18
    assert meta["options"]["back_projection"] == 0
    assert torch.equal(a.image, superres(x, 2, **kw).image)
    with pytest.raises(InputError, match="factor"):
        superres(x, 1.0, **kw)


def test_denoise_injects_the_noisy_image(model, image) -> None:
    noisy = (image + 0.1 * torch.randn(image.shape, generator=_gen(3))).clamp(0, 1)
    m = train(noisy, iters=2, scales=3, seed=0, device="cpu", **TINY)
    a = denoise(noisy, model=m, start_scale=1, seed=5)
    assert a.image.shape == noisy.shape
    _check_metadata(a, "denoise", 1)
    assert torch.equal(a.image, denoise(noisy, model=m, start_scale=1, seed=5).image)
    # an integer ``scales`` is SinGAN's scale count (the name clashes with the copies')
    b = denoise(noisy, engine="singan", scales=3, iters=2, start_scale=1, **TINY)
    assert b.metadata["params"]["scales"] == 3 and b.image.shape == noisy.shape


def test_a_model_of_another_shape_or_a_bad_scale_is_one_input_error(model) -> None:
    wide = _image(40, 96, 1)
    with pytest.raises(InputError, match="shape of this 96x40"):
        denoise(wide, model=model, start_scale=1)
    with pytest.raises(InputError, match="injection scale"):
        denoise(_image(40, 48, 2), model=model, start_scale=3)
    with pytest.raises(InputError, match="fixed by the trained model"):
        denoise(_image(40, 48, 2), model=model, iters=5)


# --- command line --------------------------------------------------------------------------------


def test_the_applications_sample_a_trained_model_folder(tmp_path, capsys) -> None:
    bg = _image(40, 48, 0)
    naive = bg.clone()
    naive[:, 10:20, 12:24] = 0.9
    mask = torch.zeros(3, 40, 48)
    mask[:, 10:20, 12:24] = 1
    files = {}
    for name, img in (("bg", bg), ("naive", naive), ("mask", mask)):
        files[name] = str(tmp_path / f"{name}.png")
        dropgan.write_image(img, files[name])
    folder = str(tmp_path / "model")
    flags = ["--iters", "2", "--scales", "2", "--min-size", "12"]
    assert main(["train", files["bg"], "--out", folder, "--quiet", *flags]) == 0
    out = tmp_path / "out"
    argv = ["harmonize", "--source", files["bg"], "--naive", files["naive"]]
    argv += ["--mask", files["mask"], "--model", folder, "--out", str(out), "--quiet"]
    assert main([*argv, "--start-scale", "1"]) == 0
    made = out / "naive_harmonized.png"
    meta = dropgan.image.read_metadata(made)
    assert meta["engine"] == "singan" and meta["params"]["start_scale"] == 1
    assert {"role": "model", "file": "model"} in meta["inputs"]
    assert dropgan.read_image(made).shape == (3, 40, 48)
    capsys.readouterr()
    # a model of 2 scales injects at scale 1 only: the default (3) and 0 are refused
    for bad in ([], ["--start-scale", "0"]):
        assert main([*argv, "--force", *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("dropgan: error: the injection scale")
    argv = ["paint2image", "--source", files["bg"], "--paint", files["naive"], "--quantize"]
    argv += ["--model", folder, "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert dropgan.read_image(out / "bg_naive_paint.png").shape == (3, 40, 48)
