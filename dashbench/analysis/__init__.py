"""Analysis of finished runs: plots and run comparison (no GPU needed)."""
