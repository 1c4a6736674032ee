"""The experimental split-ring attention (kernels/dash/gluon_split_attend.py): its sm_90 build
and on the GPU its output against ``attend``."""


import pytest
import torch
from _common import rel, sm90_listing, stored_bias_case

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="Gluon kernels run only on a GPU")


@needs_gpu
@pytest.mark.parametrize("rings", [(3, 3), (4, 2)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("b, hq, hkv, n, d", [(1, 8, 2, 1000, 128), (1, 32, 2, 777, 128), (1, 6, 2, 700, 128),
                                              (1, 4, 4, 513, 64), (2, 16, 4, 600, 128)])  # fmt: skip
def test_gluon_split_attention_equals_attend(rings, dtype, b, hq, hkv, n, d):
    """Odd lengths, tiles with nothing listed, 4, 16, 3 (padded) and 1 heads a KV head, two
    sequences, both half dtypes, both ring splits."""
    from dashbench.kernels.dash.gluon_split_attend import gluon_split_attend

    case = c = stored_bias_case(b, hq, hkv, n, d, seed=n + 13, dtype=dtype)
    got, lse = gluon_split_attend(c["q"], c["k"], c["v"], c["offsets"], c["counts"], c["ids"], c["bias"],
                                  chunk_size=64, bm=c["bm"], gp=c["gp"], k_stages=rings[0], v_stages=rings[1])  # fmt: skip
    assert rel(got, case["want"]) < 2e-3 and rel(lse, case["want_lse"]) < 1e-4


@needs_gpu
def test_fp32_biases_equal_attend():
    from dashbench.kernels.dash.gluon_split_attend import gluon_split_attend

    case = c = stored_bias_case(1, 32, 2, 777, 128, seed=4, dtype=torch.float16, fp16_bias=False)
    got, lse = gluon_split_attend(c["q"], c["k"], c["v"], c["offsets"], c["counts"], c["ids"], c["bias"],
                                  chunk_size=64, bm=c["bm"], gp=c["gp"])  # fmt: skip
    assert rel(got, case["want"]) < 2e-3 and rel(lse, case["want_lse"]) < 1e-4


def test_split_attention_compiles_for_sm90_with_the_softmax_between_the_waits():
    """Nothing spills, two CTAs' shared memory fits an SM (2 x (shared + 1 KB) <= 228 KB), and
    all 32 ex2s of the loop's step run between the QKᵀ's and the PV's wait."""
    lines = sm90_listing("dashbench.kernels.dash.gluon_split_attend", 5)
    assert all("stack 0 B" in line and "32 ex2s between the waits" in line for line in lines), lines
    for line in lines:
        if "D=128" in line:
            assert 2 * (int(line.split("shared ")[1].split(" B")[0]) + 1024) <= 228 * 1024, line
