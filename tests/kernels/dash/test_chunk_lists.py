"""The per-tile chunk lists (``route.chunk_lists``: union bitmasks expanded into CSR lists)
against a plain construction from the bits."""

import pytest
import torch
from _common import DEVICE

from dashbench.kernels.dash.route import EXPAND_WORDS, chunk_lists


@pytest.mark.parametrize("n_words", [1, EXPAND_WORDS - 3, EXPAND_WORDS, 2 * EXPAND_WORDS + 5])
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_lists_hold_each_tiles_set_bits_in_order(n_words, density):
    """Several words a step and a partial last step; empty, sparse and full words (bit 31
    included, the int32 sign)."""
    g = torch.Generator().manual_seed(n_words)
    bits = torch.rand(2, 3, 5, n_words * 32, generator=g) < density  # [B, Hkv, tiles, chunks]
    weights = torch.tensor([1 << b for b in range(32)], dtype=torch.int64)
    words = (bits.view(2, 3, 5, n_words, 32).long() * weights).sum(-1)
    mask = torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)
    tile_count = bits.sum(-1).to(torch.int32)
    offsets, ids = chunk_lists(mask.to(DEVICE), tile_count.to(DEVICE))
    offsets, ids = offsets.cpu(), ids.cpu()
    flat = bits.view(-1, n_words * 32)
    for tile in range(flat.shape[0]):
        want = flat[tile].nonzero().flatten()
        start = int(offsets.flatten()[tile])
        assert torch.equal(ids[start : start + want.numel()].long(), want), tile
    n_pairs = int(tile_count.sum())
    assert ids.numel() == max(1, n_pairs)
    # the size fetched by the caller gives the same lists
    assert torch.equal(chunk_lists(mask.to(DEVICE), tile_count.to(DEVICE), n_pairs)[1].cpu()[:n_pairs], ids[:n_pairs])
