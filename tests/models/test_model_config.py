"""Attention settings stored in config.json: round trip, knob handling, and errors that name
the key."""

from __future__ import annotations

import pytest

from dashbench.models.config import SparseAttentionConfig


def test_round_trip_and_knobs():
    s = SparseAttentionConfig(method="dash", scaling=2.5)
    assert SparseAttentionConfig.from_dict(s.to_dict()) == s
    assert (s.knob, s.knob_value) == ("scaling", 2.5)
    t = SparseAttentionConfig(method="nsa").with_knob(7.4)
    assert (t.knob, t.knob_value) == ("topk", 7)
    assert SparseAttentionConfig.from_dict(None).method == "dense"
    with pytest.raises(ValueError, match="no sparsity knob"):
        SparseAttentionConfig().with_knob(3)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"method": "flash"}, "one of dense, dash, nsa, infllmv2"),
        ({"method": "dash", "bogus": 1}, r"unknown dashbench_attention keys \['bogus'\]"),
        ({"method": "dash", "chunk_size": "64"}, "chunk_size must be int"),
        ({"method": "dash", "chunk_size": 48}, "chunk_size must be 32, 64 or 128"),
        ({"method": "nsa", "topk": 1}, "below its 3 forced blocks"),
        ({"method": "dash", "scaling": -1.0}, "must be positive"),
        ({"method": "dash", "topk": True}, "topk must be int"),
        ("dash", "must be a mapping"),
    ],
)
def test_bad_settings_name_the_problem(data, message):
    with pytest.raises(ValueError, match=message):
        SparseAttentionConfig.from_dict(data, source="ckpt/config.json")
