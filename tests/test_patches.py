import pytest
import torch

from dropgan.patches import (
    PatchTable,
    extract_patches,
    fold_indexed,
    fold_patches,
    fold_weights,
    gaussian_window,
    valid_patches,
)


@pytest.mark.parametrize("sigma", [None, 1.0, 7.0])
def test_fold_of_extract_is_identity(sigma):
    x = torch.rand(2, 3, 13, 17)
    y = fold_patches(extract_patches(x, 7), (13, 17), 7, gaussian_window(7, sigma))
    torch.testing.assert_close(y, x)


def test_fold_is_the_weighted_mean_of_overlapping_patches():
    # patches of constant value v_i: each pixel gets the window-weighted mean of the v_i over
    # the patches that cover it, computed here by brute force
    p, h, w = 3, 5, 6
    gh, gw = h - p + 1, w - p + 1
    v = torch.rand(gh * gw)
    win = gaussian_window(p, 1.0)
    patches = v[None, :, None].expand(1, -1, 3 * p * p).contiguous()
    y = fold_patches(patches, (h, w), p, win)[0, 0]
    for r in range(h):
        for c in range(w):
            num = den = 0.0
            for i in range(gh):
                for j in range(gw):
                    if i <= r < i + p and j <= c < j + p:
                        num += win[r - i, c - j] * v[i * gw + j]
                        den += win[r - i, c - j]
            assert y[r, c] == pytest.approx(float(num / den), abs=1e-6)


@pytest.mark.parametrize("sigma", [None, 2.0])
def test_fold_indexed_equals_folding_the_gathered_patches(sigma):
    # two sources of different sizes: the table must address each one's rows correctly
    sources = [torch.rand(3, 11, 14), torch.rand(3, 9, 9)]
    unfolded = torch.cat([extract_patches(s[None], 5)[0] for s in sources])
    index = torch.randint(len(unfolded), (8 * 12,), generator=torch.Generator().manual_seed(0))
    win = gaussian_window(5, sigma)
    want = fold_patches(unfolded[index][None], (12, 16), 5, win)[0]
    table = PatchTable.of(sources, 5)
    got = fold_indexed(table, index, (12, 16), 5, win, fold_weights((12, 16), 5, win))
    torch.testing.assert_close(got, want)


def test_gaussian_window_is_symmetric_and_peaks_at_centre():
    w = gaussian_window(7, 2.0)
    torch.testing.assert_close(w, w.T)
    torch.testing.assert_close(w, w.flip(0))
    assert w.argmax() == 3 * 7 + 3


def test_valid_patches_excludes_every_patch_touching_the_mask():
    mask = torch.zeros(10, 12, dtype=torch.bool)
    mask[4, 5] = True
    valid = valid_patches(mask, 3).reshape(8, 10)
    for i in range(8):
        for j in range(10):
            touches = i <= 4 < i + 3 and j <= 5 < j + 3
            assert bool(valid[i, j]) is not touches


def test_a_patch_table_reads_the_rows_of_the_unfolded_patch_matrix():
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, 11, 14, generator=g), torch.rand(3, 9, 9, generator=g)]
    table = PatchTable.of(images, 5)
    unfolded = torch.cat([extract_patches(x[None], 5)[0] for x in images])
    assert table.shape == tuple(unfolded.shape)
    rows = torch.randint(0, unfolded.shape[0], (200,), generator=g)
    assert torch.equal(table.index_select(0, rows), unfolded[rows])
    assert torch.equal(table[7:60:3], unfolded[7:60:3])
    matrix = table.matrix(chunk=16)  # chunks that do not divide the rows
    assert matrix.is_contiguous() and torch.equal(matrix, unfolded)
    with pytest.raises(ValueError):
        table.index_select(1, rows)
