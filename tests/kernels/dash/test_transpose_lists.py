"""The backward's list transposition (tile -> chunks into chunk -> tiles) against a plain loop."""

import pytest
import torch

from dashbench.kernels.dash.backward import transpose_lists


def _lists(bh, n_tiles, n_chunks, density, seed):
    g = torch.Generator().manual_seed(seed)
    sel = torch.rand(bh, n_tiles, n_chunks, generator=g) < density
    counts = sel.sum(-1).to(torch.int32)
    ids = sel.nonzero()[:, 2].to(torch.int32)  # by (bh, tile), chunks ascending
    words = torch.randint(1, 2**16, (max(1, ids.numel()),), generator=g)
    if ids.numel() == 0:
        ids = torch.zeros(1, dtype=torch.int32)  # the forward's placeholder
    offsets = (torch.cumsum(counts.flatten().long(), 0) - counts.flatten().long()).view(bh, n_tiles)
    return sel, offsets, counts, ids, words


@pytest.mark.parametrize("bh, n_tiles, n_chunks, density", [(3, 7, 5, 0.4), (2, 16, 9, 0.9), (1, 1, 1, 1.0),
                                                            (2, 5, 4, 0.0)])  # fmt: skip
def test_transposed_lists_match_a_loop(bh, n_tiles, n_chunks, density):
    sel, offsets, counts, ids, words = _lists(bh, n_tiles, n_chunks, density, seed=n_tiles)
    t_offsets, t_counts, tiles, t_words = transpose_lists(offsets, counts, ids, n_chunks, words, packed=True)
    total = int(counts.sum())
    for b in range(bh):
        for c in range(n_chunks):
            want = [t for t in range(n_tiles) if sel[b, t, c]]
            start, n = int(t_offsets[b, c]), int(t_counts[b, c])
            assert n == len(want)
            assert tiles[start : start + n].tolist() == want
            # each entry's word travels with it
            for t, w in zip(want, t_words[start : start + n].tolist()):
                pair = int(offsets[b, t]) + int(sel[b, t, :c].sum())
                assert w == int(words[pair])
    assert int(t_counts.sum()) == total and tiles.numel() == max(1, total)


def test_strided_single_token_lists_are_read_through_their_offsets():
    """Decode-style lists (one query per sequence: each head's selection, -1-padded, at a fixed
    stride) transpose like their packed form."""
    from dashbench.kernels.dash.block_sparse import _single_token_lists, selection_lists

    g = torch.Generator().manual_seed(0)
    blocks = torch.sort(torch.randperm(12, generator=g)[:5]).values.view(1, 1, 1, 5).repeat(2, 3, 1, 1)
    blocks[1, 2, 0, 3:] = -1
    strided = _single_token_lists(blocks, 16, q_offset=150)  # own block 9: ids >= 9 left out
    offsets, counts, ids, words = selection_lists(torch.cat([blocks, blocks], 2), bm=2, block_size=16, q_offset=150)
    got = transpose_lists(strided[0], strided[1], strided[2], 12, strided[3])
    want = transpose_lists(offsets, counts, ids, 12, words, packed=True)
    for a, b in zip(got[:3], want[:3]):
        assert torch.equal(a, b)
    assert int(got[1].sum()) == int(strided[1].sum()) > 0
