"""Sweep expansion: dense providers once per shape and inputs, sparse ones per target sparsity."""

import pytest

from dashbench.harness.cases import Case, Shape, expand_sweep

SPARSE = frozenset({"dash", "infllmv2"})


def test_dense_providers_run_once_and_sparse_ones_per_target():
    cases = expand_sweep(["fa3", "dash", "infllmv2"], ["fwd"], [1024, 2048], [1], [(4, 2)], [64], ["bf16"],
                         [0, 0.5, 0.9], ["random", "structured"], sparse=SPARSE)  # fmt: skip
    assert len(cases) == 2 * 2 * (1 + 2 * 2)  # lengths x inputs x (fa3 + 2 methods x 2 targets)
    first = cases[:5]  # one shape and inputs back to back: the baseline beside the methods
    assert [(c.provider, c.sparsity) for c in first] == [
        ("fa3", None), ("dash", 0.5), ("infllmv2", 0.5), ("dash", 0.9), ("infllmv2", 0.9)]
    assert {c.inputs for c in first} == {"random"} and len({c.shape_key for c in first}) == 1
    assert len({c.case_id for c in cases}) == len(cases)


def test_without_a_target_sparse_methods_run_their_default_setting():
    cases = expand_sweep(["dash", "reference"], ["decode"], [512], [1], [(4, 2)], [64], ["fp32"], sparse=SPARSE)
    assert [(c.provider, c.sparsity, c.inputs) for c in cases] == [("reference", None, "random"),
                                                                  ("dash", None, "random")]


def test_a_target_outside_the_open_interval_is_refused():
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        Case("dash", "fwd", Shape(1, 4, 2, 64, 64), "bf16", sparsity=1.0)


def test_chunk_sizes_multiply_only_the_chunked_providers():
    cases = expand_sweep(["fa3", "dash", "infllmv2"], ["fwd"], [1024], [1], [(4, 2)], [64], ["bf16"], [0.5],
                         sparse=SPARSE, chunk_sizes=[32, 128], chunked=frozenset({"dash"}))  # fmt: skip
    assert [(c.provider, c.knobs) for c in cases] == [
        ("fa3", ()), ("dash", (("chunk_size", 32),)), ("dash", (("chunk_size", 128),)), ("infllmv2", ())]
    default = expand_sweep(["dash"], ["fwd"], [1024], [1], [(4, 2)], [64], ["bf16"], [0.5], sparse=SPARSE,
                           chunk_sizes=[64], chunked=frozenset({"dash"}))  # fmt: skip
    assert default[0].knobs == ()  # the default chunk keeps case ids as before
