"""The experimental ping-pong attention (kernels/dash/gluon_pingpong_attend.py): its sm_90 build
and on the GPU its output against ``attend``."""


import pytest
from _common import needs_gpu, rel, sm90_listing, stored_bias_case


@needs_gpu
@pytest.mark.parametrize("hq, hkv, n, d", [(8, 2, 1000, 128), (32, 2, 777, 128), (6, 2, 700, 128), (4, 4, 513, 64)])
def test_gluon_pingpong_attention_equals_attend(hq, hkv, n, d):
    """Two tiles a CTA, their warpgroups taking turns to issue products: odd tile counts (the
    last CTA one tile), lists of unequal length, 4, 16, 3 (padded) and 1 heads a KV head."""
    from dashbench.kernels.dash.gluon_pingpong_attend import gluon_pingpong_attend

    case = c = stored_bias_case(1, hq, hkv, n, d, seed=n + 3)
    got, lse = gluon_pingpong_attend(c["q"], c["k"], c["v"], c["offsets"], c["counts"], c["ids"], c["bias"], chunk_size=64, bm=c["bm"], gp=c["gp"])
    assert rel(got, case["want"]) < 2e-3 and rel(lse, case["want_lse"]) < 1e-4


def test_pingpong_attention_compiles_for_sm90_without_spills():
    lines = sm90_listing("dashbench.kernels.dash.gluon_pingpong_attend", 4)
    assert all("stack 0 B" in line for line in lines), lines
    # each warpgroup's loop (one per partition) keeps its softmax between its two waits
    assert all(line.count("HGMMA DEPBAR1 EX2 DEPBAR0") >= 2 for line in lines), lines
    # two rings of 3 stages and two q tiles fit the 227 KB a CTA may take
    assert all(int(line.split("shared ")[1].split(" B")[0]) <= 232448 for line in lines), lines
