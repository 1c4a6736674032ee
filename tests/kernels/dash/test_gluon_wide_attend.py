"""The experimental two-chunks-a-step attention (kernels/dash/gluon_wide_attend.py): its sm_90
build and on the GPU its output against ``attend``."""


import pytest
import torch
from _common import rel, sm90_listing, stored_bias_case

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="Gluon kernels run only on a GPU")


@needs_gpu
@pytest.mark.parametrize("rings", [(2, 4), (3, 3), (4, 2)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("b, hq, hkv, n, d", [(1, 8, 2, 1000, 128), (1, 32, 2, 777, 128), (1, 6, 2, 700, 128),
                                              (1, 4, 4, 513, 64), (2, 16, 4, 600, 128)])  # fmt: skip
def test_gluon_wide_attention_equals_attend(rings, dtype, b, hq, hkv, n, d):
    """Odd and even list lengths (a phantom last chunk), tiles with nothing listed, 4, 16, 3
    (padded) and 1 heads a KV head, two sequences, both half dtypes, three ring splits (2 V slots:
    the own chunk's V waits for the last pair's release)."""
    from dashbench.kernels.dash.gluon_wide_attend import gluon_wide_attend

    case = c = stored_bias_case(b, hq, hkv, n, d, seed=n + 11, dtype=dtype)
    counts = c["counts"].flatten()
    assert bool((counts % 2 == 1).any()) and bool((counts % 2 == 0).any())
    got, lse = gluon_wide_attend(c["q"], c["k"], c["v"], c["offsets"], c["counts"], c["ids"], c["bias"], chunk_size=64,
                                 bm=c["bm"], gp=c["gp"], k_stages=rings[0], v_stages=rings[1])  # fmt: skip
    assert rel(got, case["want"]) < 2e-3 and rel(lse, case["want_lse"]) < 1e-4


@needs_gpu
def test_fp32_biases_equal_attend():
    from dashbench.kernels.dash.gluon_wide_attend import gluon_wide_attend

    case = c = stored_bias_case(1, 32, 2, 777, 128, seed=3, dtype=torch.float16, fp16_bias=False)
    got, lse = gluon_wide_attend(c["q"], c["k"], c["v"], c["offsets"], c["counts"], c["ids"], c["bias"], chunk_size=64,
                                 bm=c["bm"], gp=c["gp"])  # fmt: skip
    assert rel(got, case["want"]) < 2e-3 and rel(lse, case["want_lse"]) < 1e-4


def test_wide_attention_compiles_for_sm90_without_spills():
    """Nothing spills, two CTAs' shared memory fits an SM, and the loop's ex2s run between the
    next pair's QKᵀ wait and this pair's PV wait."""
    lines = sm90_listing("dashbench.kernels.dash.gluon_wide_attend", 4)
    assert all("stack 0 B" in line and "HGMMA DEPBAR2 EX2 DEPBAR0" in line for line in lines), lines
    assert all("64 ex2s between the waits" in line for line in lines if "D=128" in line), lines
    for line in lines:
        if "D=128" in line:
            assert int(line.split("shared ")[1].split(" B")[0]) < 113 * 1024 + 1024, line
