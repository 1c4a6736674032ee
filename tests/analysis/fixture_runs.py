"""Synthetic run folders (results.csv + env.json) for the report, plot and compare tests."""

import json

import pandas as pd

from dashbench.harness.results import COLUMNS, add_speedups


def rows(scale: float = 1.0, spread: float = 0.01) -> pd.DataFrame:
    """fa3 dense and dash / infllmv2 at two targets, two lengths, one shape; ``scale`` times dash."""
    out = []
    for n in (8192, 32768):
        dense_ms = 1e-3 * (n / 1024) ** 2
        cases = [("fa3", "dense", None, dense_ms, None)]
        for sp in (0.75, 0.9):
            cases += [("dash", "hierarchical-sparse", sp, dense_ms * (1 - sp) * 1.5 * scale, 1 - sp + 0.01),
                      ("infllmv2", "hierarchical-sparse", sp, dense_ms * (1 - sp) * 2.0, 1 - sp - 0.02)]
        for provider, family, sp, ms, dens in cases:
            out.append(dict(case_id=f"{provider}|fwd|{n}|{sp}", provider=provider, family=family, mode="fwd",
                            batch=1, heads_q=32, heads_kv=8, seqlen=n, head_dim=128, dtype="bf16",
                            inputs="structured", sparsity=sp, token_density=dens, status="OK", ms=ms,
                            ms_p20=ms * (1 - spread), ms_p80=ms * (1 + spread), rel_err=1e-3))
    out.append(dict(case_id="nsa|fwd|8192|0.75", provider="nsa", family="hierarchical-sparse", mode="fwd",
                    batch=1, heads_q=32, heads_kv=8, seqlen=8192, head_dim=128, dtype="bf16",
                    inputs="structured", sparsity=0.75, status="UNSUPPORTED", note="fla refuses"))
    df = pd.DataFrame(out, columns=COLUMNS)
    return add_speedups(df)


def write_run(folder, df: pd.DataFrame, gpu: str = "NVIDIA H100 80GB HBM3"):
    folder.mkdir(parents=True)
    df.to_csv(folder / "results.csv", index=False)
    env = {"machine": {"gpu": gpu}, "sweep": {"device": "cuda", "baseline": "auto"}, "command": "dashbench kernel"}
    (folder / "env.json").write_text(json.dumps(env))
    return folder
