"""The Triton top-k against the reference's stable sort (ties to the earlier block)."""

import pytest
import torch
from _common import DEVICE, needs_triton

from dashbench.kernels.infllmv2.topk import topk_blocks
from dashbench.kernels.reference.infllmv2 import select_blocks

pytestmark = needs_triton


@pytest.mark.parametrize("n_blocks, topk", [(1, 1), (7, 3), (40, 5), (40, 45), (300, 18), (2048, 139)])
def test_equals_the_stable_sort(n_blocks, topk):
    g = torch.Generator().manual_seed(n_blocks)
    rows = 37
    scores = torch.randint(0, 6, (rows, n_blocks), generator=g).float() / 8  # many ties, zeros
    scores[: rows // 2] = torch.rand(rows // 2, n_blocks, generator=g)  # and distinct values
    own = torch.randint(0, n_blocks, (rows,), generator=g)
    j = torch.arange(n_blocks)
    scores = scores.masked_fill(j[None, :] > own[:, None], float("-inf"))
    scores[torch.arange(rows), own] = float("inf")
    scores[:, 0] = float("inf")
    scores = scores.to(DEVICE)
    assert torch.equal(topk_blocks(scores.view(1, rows, n_blocks), topk)[0], select_blocks(scores, topk))
