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
    t_offsets, t_counts, tiles, t_words = transpose_lists(offsets, counts, ids, n_chunks, words)
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
