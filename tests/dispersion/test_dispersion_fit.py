"""Slopes against ln N, the dispersion verdict, and the sweep's validation."""

import math

import numpy as np
import pandas as pd
import pytest

from dashbench.dispersion.fit import ENTROPY_SLOPE, NEEDLE_SLOPE, fit_slopes, log_slope, verdict
from dashbench.dispersion.runner import DispersionSweep, parse_inputs, parse_seqlens


def test_log_slope_recovers_a_line_in_ln_n_and_needs_two_lengths():
    lengths = [1024, 2048, 8192, 131072]
    assert log_slope(lengths, [0.3 - 0.05 * math.log(n) for n in lengths]) == pytest.approx(-0.05, abs=1e-12)
    assert log_slope(lengths, [2.0] * 4) == 0.0
    assert math.isnan(log_slope([4096, 4096], [0.1, 0.2]))
    assert log_slope([1024, 2048, 4096], [0.5, float("nan"), 0.3]) == pytest.approx(-0.2 / math.log(4))


def test_verdict_uses_the_needle_when_there_is_one_else_the_entropy():
    assert verdict(NEEDLE_SLOPE - 0.01, 0.0) == ("needle weight", True)
    assert verdict(0.0, 5.0) == ("needle weight", False)  # the needle decides when present
    assert verdict(math.nan, ENTROPY_SLOPE + 0.01) == ("entropy", True)
    assert verdict(math.nan, 0.0) == ("entropy", False)
    assert verdict(math.nan, math.nan) == ("", None)


def _flag(value):
    """A verdict cell as a Python bool (pandas stores a column of bools as numpy bools)."""
    assert isinstance(value, (bool, np.bool_)), value
    return bool(value)


def test_fit_slopes_per_inputs_and_method():
    rows = []
    for n in (1024, 4096, 16384):
        rows.append(dict(inputs="planted", method="softmax", seqlen=n, needle_weight=1 / (1 + n / 3000),
                         entropy=math.log(n), norm_entropy=1.0))  # fmt: skip
        rows.append(dict(inputs="planted", method="entmax", seqlen=n, needle_weight=1.0, entropy=0.0,
                         norm_entropy=0.0))  # fmt: skip
        rows.append(dict(inputs="captured:x", method="softmax", seqlen=n, needle_weight=math.nan,
                         entropy=0.5 * math.log(n), norm_entropy=0.5))  # fmt: skip
    fits = fit_slopes(pd.DataFrame(rows)).set_index(["inputs", "method"])
    assert _flag(fits.loc[("planted", "softmax"), "dispersive"]) is True
    assert fits.loc[("planted", "softmax"), "entropy_slope"] == pytest.approx(1.0)
    assert _flag(fits.loc[("planted", "entmax"), "dispersive"]) is False
    captured = fits.loc[("captured:x", "softmax")]
    assert captured["criterion"] == "entropy" and _flag(captured["dispersive"]) is True
    assert captured["entropy_slope"] == pytest.approx(0.5) and math.isnan(captured["needle_slope"])


def test_seqlen_ranges_double_and_bad_ones_are_named():
    assert parse_seqlens("1k..8k") == [1024, 2048, 4096, 8192]
    assert parse_seqlens("512, 1k..2k, 512") == [512, 1024, 2048]
    with pytest.raises(ValueError, match="power of two"):
        parse_seqlens("1k..3k")
    with pytest.raises(ValueError, match="ends below"):
        parse_seqlens("8k..1k")
    with pytest.raises(ValueError, match="k = 1024"):
        parse_seqlens("12q")
    with pytest.raises(ValueError, match="names no length"):
        parse_seqlens(" , ")


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(methods=["softmax", "flash"]), "methods: unknown 'flash'"),
        (dict(methods=[]), "methods"),
        (dict(seqlens=[16, 256], rows=16), "must exceed the 16 query rows"),
        (dict(inputs=["random"]), "planted"),
        (dict(dtype="bf16"), "dtype"),
        (dict(heads=(3, 2)), "heads"),
        (dict(rows=32, head_dim=16, seqlens=[256]), "orthogonal"),
        (dict(dash_scaling="fast"), "scaling"),
    ],
)
def test_sweep_check_names_the_bad_field(changes, message):
    with pytest.raises(ValueError, match=message):
        DispersionSweep(**changes).check()


def test_inputs_spec():
    assert parse_inputs("planted") == "planted"
    assert parse_inputs("captured:a/b.pt") == "captured:a/b.pt"
    with pytest.raises(ValueError, match="captured:<file>"):
        parse_inputs("captured:")
