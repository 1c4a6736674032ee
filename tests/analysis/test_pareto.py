"""The Pareto analysis from a fixture table: fronts, pooled intervals, the table and the plot."""

from __future__ import annotations

import pandas as pd
import pytest

from dashbench.analysis.pareto import markdown, pareto_front, plot, summary


def test_front_drops_dominated_points():
    pts = [(0.5, 0.9), (0.75, 0.8), (0.6, 0.7), (0.9, 0.8), (0.95, 0.2)]
    assert pareto_front(pts) == [(0.5, 0.9), (0.9, 0.8), (0.95, 0.2)]
    assert pareto_front([(0.5, 0.5)]) == [(0.5, 0.5)]


def _fixture() -> pd.DataFrame:
    rows = [dict(label="dense", method="dense", target_sparsity=0.0, sparsity=0.0, task=t, examples=100,
                 correct=c, knob="", knob_value=float("nan")) for t, c in (("mqar", 90), ("niah", 70))]  # fmt: skip
    for method, label in (("dash", "dash"), ("nsa", "nsa"), ("infllmv2", "infllmv2")):
        for target, acc in ((0.5, 85), (0.75, 80), (0.9, 60)):
            for task in ("mqar", "niah"):
                rows.append(dict(label=label, method=method, target_sparsity=target, sparsity=target - 0.01,
                                 task=task, examples=100, correct=acc, knob="topk", knob_value=8))  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_pools_tasks_with_a_wilson_interval():
    s = summary(_fixture())
    dense = s[s["method"] == "dense"].iloc[0]
    assert dense["examples"] == 200 and dense["accuracy"] == pytest.approx(0.8)
    assert dense["lo"] < 0.8 < dense["hi"]
    assert len(s) == 1 + 3 * 3


def test_table_and_plot_are_written(tmp_path):
    df = _fixture()
    text = markdown(df)
    for method in ("dense", "dash", "nsa", "infllmv2"):
        assert method in text
    assert "out of reach" not in text  # every fixture point is within 0.01 of its target
    far = df.assign(sparsity=df["sparsity"].where(df["target_sparsity"] != 0.9, 0.6))
    assert markdown(far).count("target out of reach: measured 0.600") == 3  # one row per method
    paths = plot(df, tmp_path, "fixture")
    assert {p.name for p in paths} == {"pareto.png", "pareto.svg"}
    assert all(p.stat().st_size > 5000 for p in paths)
