"""The experimental producer-warp attention (kernels/dash/gluon_ws_attend.py): its sm_90 build
and on the GPU its output against ``attend``."""


import pytest
import torch
from _common import needs_gpu, rel, sm90_listing, stored_bias_case


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("hq, hkv, n, d", [(8, 2, 1000, 128), (32, 2, 777, 128), (6, 2, 700, 128), (4, 4, 513, 64)])
def test_gluon_ws_attention_equals_attend(dtype, hq, hkv, n, d):
    """A producer warp requesting the K/V tiles for the consumer warpgroup: odd lengths, 4, 16,
    3 (padded) and 1 heads a KV head, both half dtypes."""
    from dashbench.kernels.dash.gluon_ws_attend import gluon_ws_attend

    case = c = stored_bias_case(1, hq, hkv, n, d, seed=n + 4, dtype=dtype)
    got, lse = gluon_ws_attend(c["q"], c["k"], c["v"], c["offsets"], c["counts"], c["ids"], c["bias"], chunk_size=64, bm=c["bm"], gp=c["gp"])
    assert rel(got, case["want"]) < 2e-3 and rel(lse, case["want_lse"]) < 1e-4


def test_ws_attention_compiles_for_sm90_without_spills():
    """The consumer's loop keeps its softmax between its waits, nothing spills, and two CTAs'
    shared memory fits an SM."""
    lines = sm90_listing("dashbench.kernels.dash.gluon_ws_attend", 4)
    assert all("stack 0 B" in line and "HGMMA DEPBAR1 EX2 DEPBAR0" in line for line in lines), lines
    # every ex2 of the loop's step between the waits (at 4 and 16 heads a KV head, the timed ones)
    assert all("32 ex2s between the waits" in line for line in lines if "D=128 stages=3" in line), lines
    (line,) = [line for line in lines if line.startswith("G=4 D=128 stages=3")]
    assert int(line.split("shared ")[1].split(" B")[0]) < 113 * 1024 + 1024, line
