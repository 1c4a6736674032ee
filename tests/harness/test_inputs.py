import pytest
import torch

from dashbench.harness.inputs import random_qkv, structured_qkv
from dashbench.kernels.reference.dash import P_FLOOR, chunk_summaries, route


def test_generators_are_seeded_and_shaped():
    a = structured_qkv(1, 4, 2, 300, 16, chunk_size=32, seed=3, dtype=torch.float32)
    b = structured_qkv(1, 4, 2, 300, 16, chunk_size=32, seed=3, dtype=torch.float32)
    c = structured_qkv(1, 4, 2, 300, 16, chunk_size=32, seed=4, dtype=torch.float32)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    assert [t.shape for t in a] == [(1, 4, 300, 16), (1, 2, 300, 16), (1, 2, 300, 16)]
    r1, r2 = random_qkv(2, 4, 1, 50, 8, seed=1), random_qkv(2, 4, 1, 50, 8, seed=1)
    assert torch.equal(r1[1], r2[1]) and r1[0].dtype == torch.bfloat16


def _neighbour_overlap(q, k, chunk=32, scaling=2.0):
    """Mean Jaccard overlap of the routed chunk sets of tokens i and i+1 (KV head 0)."""
    n = q.shape[2]
    rows = torch.arange(256, n)
    p_bar = route(q[:, :, rows].float(), chunk_summaries(k.float(), torch.zeros(k.shape[1], k.shape[-1]), chunk),
                  rows, chunk, scaling)  # fmt: skip
    sets = p_bar[0, 0] > P_FLOOR
    inter = (sets[1:] & sets[:-1]).sum(-1).float()
    union = (sets[1:] | sets[:-1]).sum(-1).clamp(min=1).float()
    return float((inter / union).mean())


def test_the_coherence_knob_changes_how_alike_neighbours_route():
    kw = dict(chunk_size=32, span=128, dtype=torch.float32, seed=0)
    coherent = _neighbour_overlap(*structured_qkv(1, 2, 1, 1024, 32, coherence=1.0, **kw)[:2])
    loose = _neighbour_overlap(*structured_qkv(1, 2, 1, 1024, 32, coherence=0.0, **kw)[:2])
    assert coherent > loose + 0.2


def test_coherence_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="coherence"):
        structured_qkv(1, 2, 1, 64, 8, coherence=1.5)


def test_input_kinds_parse_and_bad_ones_name_the_choices():
    from dashbench.harness.inputs import parse_inputs

    assert parse_inputs("random") == "random" and parse_inputs(" structured ") == "structured"
    assert parse_inputs("structured:0.50") == "structured:0.5"
    assert parse_inputs("captured:/tmp/x.pt") == "captured:/tmp/x.pt"
    for bad in ("gaussian", "structured:1.5", "structured:high", "captured:", "random:1"):
        with pytest.raises(ValueError, match="structured|expected one of"):
            parse_inputs(bad)


def test_structured_kind_is_the_generator_and_its_coherence_knob_shows_in_routing():
    from dashbench.harness.inputs import make_qkv, neighbour_agreement

    a = make_qkv("structured:0.3", 1, 4, 2, 1024, 32, dtype=torch.float32, device="cpu", seed=2)
    b = structured_qkv(1, 4, 2, 1024, 32, coherence=0.3, dtype=torch.float32, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    agree = {c: neighbour_agreement(*make_qkv(f"structured:{c}", 1, 4, 2, 2048, 64, dtype=torch.float32,
                                              device="cpu", seed=3)[:2])
             for c in (0.0, 0.5, 1.0)}  # fmt: skip
    rnd = neighbour_agreement(*random_qkv(1, 4, 2, 2048, 64, dtype=torch.float32, seed=3)[:2])
    assert agree[0.0] < agree[0.5] - 0.1 < agree[1.0] - 0.2  # measured: 0.14, 0.29, 0.73
    assert rnd < 0.25


def test_captured_inputs_load_a_prefix_and_refuse_other_shapes(tmp_path):
    from dashbench.harness.inputs import make_qkv

    q, k, v = random_qkv(1, 4, 2, 100, 16, dtype=torch.float32, seed=5)
    path = tmp_path / "layer3.pt"
    torch.save({"q": q, "k": k, "v": v}, path)
    got = make_qkv(f"captured:{path}", 1, 4, 2, 60, 16, dtype=torch.float32, device="cpu")
    assert torch.equal(got[0], q[:, :, :60]) and torch.equal(got[2], v[:, :, :60])
    with pytest.raises(ValueError, match="holds B=1, heads 4/2, 100 tokens"):
        make_qkv(f"captured:{path}", 1, 8, 2, 60, 16, dtype=torch.float32, device="cpu")
    with pytest.raises(ValueError, match="holds"):
        make_qkv(f"captured:{path}", 1, 4, 2, 200, 16, dtype=torch.float32, device="cpu")
