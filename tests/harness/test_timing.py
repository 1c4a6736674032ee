"""Timing budgets: slow cases are measured several times, not once."""

from dashbench.harness.timing import grown_budgets


def test_slow_cases_get_budgets_for_at_least_min_runs():
    assert grown_budgets(0.5, 25, 100, 10) == (25, 100)  # fast: the fixed budgets already hold 200 runs
    assert grown_budgets(220.0, 25, 100, 10) == (440.0, 2200.0)  # a 128k prefill: 10 runs, not 1
