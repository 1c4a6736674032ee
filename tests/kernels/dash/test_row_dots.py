"""``backward.row_dots``: the backward's ``delta`` (each row's dot of dO with out) in one pass."""

import pytest
import torch
from _common import DEVICE, needs_triton

pytestmark = needs_triton


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shape", [(1, 3, 97, 64), (2, 2, 130, 128), (1, 1, 1, 64)])
def test_row_dots_equal_the_fp32_sum_of_products(dtype, shape):
    """Against ``(a.double() * b.double()).sum(-1)``: fp32 accumulation of exact products
    (half-precision inputs are exact in fp32), so within fp32 rounding of a D-term sum."""
    from dashbench.kernels.dash.backward import row_dots

    g = torch.Generator().manual_seed(shape[2])
    a, b = (torch.randn(shape, generator=g).to(DEVICE, dtype) for _ in range(2))
    got = row_dots(a, b)
    want = (a.double() * b.double()).sum(-1)
    assert got.dtype == torch.float32 and got.shape == shape[:-1]
    assert torch.allclose(got.double(), want, rtol=1e-5, atol=1e-5 * shape[-1] ** 0.5)


def test_row_dots_take_strided_inputs():
    """A transposed view is made contiguous first: the same values as its copy."""
    from dashbench.kernels.dash.backward import row_dots

    a = torch.randn(1, 70, 2, 64).to(DEVICE).transpose(1, 2)
    b = torch.randn(1, 2, 70, 64).to(DEVICE)
    assert torch.equal(row_dots(a, b), row_dots(a.contiguous(), b))
