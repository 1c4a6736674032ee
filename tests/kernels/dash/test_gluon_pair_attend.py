"""The experimental warp-specialized pair attention (kernels/dash/gluon_pair_attend.py): its
lists, its sm_90 build, and on the GPU its output against ``attend``."""


import pytest
import torch
from _common import needs_gpu, rel, sm90_listing, stored_bias_case


def test_pair_lists_are_the_unions_with_membership():
    """``pair_lists``: each pair of tiles' union of chunks, ascending, with bit 29 for the first
    tile's chunks and bit 30 for the second's; an odd tile count leaves the last pair one tile."""
    from dashbench.kernels.dash.gluon_pair_attend import pair_lists

    gen = torch.Generator().manual_seed(3)
    B, Hkv, n_tiles, n_words = 2, 3, 7, 3
    bits = torch.rand(B, Hkv, n_tiles, n_words * 32, generator=gen) < 0.3
    weights = torch.tensor([1 << i for i in range(31)] + [-(1 << 31)], dtype=torch.int64)
    mask = (bits.view(B, Hkv, n_tiles, n_words, 32).long() * weights).sum(-1).to(torch.int32)
    dev = "cuda" if torch.cuda.is_available() else "cpu"  # on the CPU through the interpreter
    offsets, counts, ids = pair_lists(mask.to(dev), torch.zeros(B, Hkv, n_tiles, dtype=torch.int32, device=dev))
    offsets, counts, ids = offsets.cpu(), counts.cpu(), ids.cpu()
    assert counts.shape == (B, Hkv, 4)
    for b in range(B):
        for h in range(Hkv):
            for p in range(4):
                a = set(torch.nonzero(bits[b, h, 2 * p]).flatten().tolist())
                c = set(torch.nonzero(bits[b, h, 2 * p + 1]).flatten().tolist()) if 2 * p + 1 < n_tiles else set()
                want = [x | (int(x in a) << 29) | (int(x in c) << 30) for x in sorted(a | c)]
                got = ids[offsets[b, h, p]: offsets[b, h, p] + counts[b, h, p]].tolist()
                assert got == want


@needs_gpu
@pytest.mark.parametrize("stages", [2, 4])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("hq, hkv, n, d", [(8, 2, 1000, 128), (32, 2, 777, 128), (6, 2, 700, 128), (4, 2, 900, 64)])
def test_gluon_pair_attention_equals_attend(dtype, hq, hkv, n, d, stages):
    """Two tiles a CTA over their lists' union (warp-specialized): odd tile counts (the last
    pair one tile), 4, 16, 3 (padded) and 2 heads a KV head, head dims 128 and 64: output and
    log-sum-exp equal ``attend``'s over the same lists and stored biases."""
    from dashbench.kernels.dash.gluon_pair_attend import gluon_pair_attend, pair_lists

    case = c = stored_bias_case(1, hq, hkv, n, d, seed=n + 1, dtype=dtype)
    p_off, p_cnt, p_ids = pair_lists(c["mask"], c["counts"])
    assert int(c["counts"].max()) > 2 and int(p_cnt.sum()) < int(c["counts"].sum())  # the tiles share chunks
    got, lse = gluon_pair_attend(c["q"], c["k"], c["v"], c["offsets"], c["counts"], c["ids"], c["bias"], p_off, p_cnt, p_ids, chunk_size=64, bm=c["bm"], gp=c["gp"],
                                 stages=stages)  # fmt: skip
    assert rel(got, case["want"]) < 2e-3 and rel(lse, case["want_lse"]) < 1e-4


def test_pair_attention_compiles_for_sm90_without_spills():
    lines = sm90_listing("dashbench.kernels.dash.gluon_pair_attend", 4)
    assert all("stack 0 B" in line for line in lines), lines
