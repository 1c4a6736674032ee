"""Run folders: ``results/runs/<run-id>/{results.csv, results.json, env.json, table.md}``.

Rows are appended as cases finish and every file is replaced atomically (write to a temporary
file, then ``os.replace``), so a run killed at any moment keeps every finished row and
``--resume <run-id>`` can finish it.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import tempfile
import time
from pathlib import Path

import pandas as pd

from dashbench.harness.status import Status

# Every run writes these columns in this order (tidy/long form: one row per case).
COLUMNS = [
    "case_id", "provider", "impl", "family", "backend", "mode", "batch", "heads_q", "heads_kv",
    "seqlen", "head_dim", "dtype", "inputs", "sparsity", "setting", "token_density",
    "compute_density", "knobs", "device", "status", "rel_err", "tol", "rel_err_grad", "tol_grad",
    "ms", "ms_p20", "ms_p80", "timing", "tflops", "gbps", "peak_mem_mib", "extra_mem_mib",
    "baseline", "speedup", "vs_dash", "note", "repro", "finished_at",
]  # fmt: skip

DEFAULT_RUNS_DIR = Path("results") / "runs"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve_run_dir(run: str, runs_dir: Path = DEFAULT_RUNS_DIR) -> Path:
    """A run id (looked up under ``runs_dir``) or a path to a run folder."""
    for candidate in (Path(run), runs_dir / run):
        if (candidate / "env.json").is_file():
            return candidate
    raise FileNotFoundError(
        f"no run {run!r}: neither {run} nor {runs_dir / run} holds an env.json"
    )


def add_speedups(df: pd.DataFrame, baseline: str = "auto") -> pd.DataFrame:
    """Fill ``baseline`` and ``speedup`` (baseline ms / this ms) for every correct, timed row,
    and ``vs_dash`` (DashAttention's ms / this ms) for sparse rows at DashAttention's target.

    ``auto``: per case shape and inputs, ``fa3`` when it ran correctly, else the fastest correct
    dense provider. Otherwise the named provider. The column names the baseline actually used.
    """
    df = df.copy()
    for col, default in (("inputs", "random"), ("sparsity", math.nan), ("family", "dense")):
        if col not in df:
            df[col] = default  # runs written before these columns existed
    df["baseline"] = ""
    df["speedup"] = math.nan
    df["vs_dash"] = math.nan
    timed = df["status"] == Status.OK.value
    keys = ["mode", "batch", "heads_q", "heads_kv", "seqlen", "head_dim", "dtype", "inputs"]
    for _, group in df[timed].groupby(keys + ["sparsity"], dropna=False):
        # the other sparse methods at the same target; the reference where the kernel did not run
        dash = group[group["provider"] == "dash"]
        dash = dash if len(dash) else group[group["provider"] == "dash-ref"]
        if len(dash) > 1:  # several chunk sizes: compare with the default one
            dash = dash[~dash["knobs"].fillna("").astype(str).str.contains("chunk_size") |
                        dash["knobs"].fillna("").astype(str).str.contains("chunk_size=64")]
        if len(dash) == 1 and group["sparsity"].notna().all():
            sparse = group[group["family"] != "dense"]
            df.loc[sparse.index, "vs_dash"] = float(dash["ms"].iloc[0]) / sparse["ms"].astype(float)
    for _, group in df[timed].groupby(keys, dropna=False):
        candidates = group
        if baseline == "auto":
            fa3 = group[group["provider"] == "fa3"]
            candidates = fa3 if len(fa3) else group[group["family"] == "dense"]
        else:
            candidates = group[group["provider"] == baseline]
        if candidates.empty:
            continue
        best = candidates.loc[candidates["ms"].astype(float).idxmin()]
        df.loc[group.index, "baseline"] = best["provider"]
        df.loc[group.index, "speedup"] = float(best["ms"]) / group["ms"].astype(float)
    return df


def render_markdown(df: pd.DataFrame) -> str:
    view = display_frame(df)
    if not len(view):
        return "(no rows)\n"
    view = view.astype(object).where(view.notna(), None)  # empty cells, not "nan"
    return view.to_markdown(index=False, floatfmt=".4g", missingval="") + "\n"


def display_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The columns a reader wants, in reading order."""
    cols = [
        "provider", "mode", "batch", "heads_q", "heads_kv", "seqlen", "head_dim", "dtype", "inputs",
        "sparsity", "setting", "token_density", "compute_density", "status", "rel_err", "ms", "tflops",
        "gbps", "extra_mem_mib", "baseline", "speedup", "vs_dash", "note",
    ]  # fmt: skip
    return df[[c for c in cols if c in df.columns]]


class RunWriter:
    """Owns one run folder: writes env.json once, then rewrites the result files per row."""

    def __init__(self, run_dir: Path, env: dict | None = None, baseline: str = "auto"):
        self.run_dir = Path(run_dir)
        self.baseline = baseline
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if env is not None:
            atomic_write_text(self.env_path, json.dumps(env, indent=2, default=str) + "\n")
        self.rows: list[dict] = self.load_rows()

    @property
    def env_path(self) -> Path:
        return self.run_dir / "env.json"

    @property
    def csv_path(self) -> Path:
        return self.run_dir / "results.csv"

    def load_env(self) -> dict:
        return json.loads(self.env_path.read_text())

    def load_rows(self) -> list[dict]:
        if not self.csv_path.is_file():
            return []
        df = pd.read_csv(self.csv_path, keep_default_na=False, na_values=[""])
        return df.to_dict(orient="records")

    def finished_case_ids(self) -> set[str]:
        """Cases that need no rerun: every row except ERROR and OOM, which a resume retries
        (an error can come from the machine's state, e.g. a previous case's fault)."""
        retry = {Status.ERROR.value, Status.OOM.value}
        return {row["case_id"] for row in self.rows if row["status"] not in retry}

    def append(self, row: dict) -> None:
        """Add a finished case, replacing an earlier row of the same case (a retried one)."""
        new = {c: row.get(c, None) for c in COLUMNS}
        self.rows = [r for r in self.rows if r["case_id"] != new["case_id"]] + [new]
        self.flush()

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=COLUMNS)
        return add_speedups(df, self.baseline) if len(df) else df

    def flush(self) -> None:
        df = self.frame()
        atomic_write_text(self.csv_path, df.to_csv(index=False))
        records = json.loads(df.to_json(orient="records"))
        atomic_write_text(self.run_dir / "results.json", json.dumps(records, indent=1) + "\n")
        atomic_write_text(self.run_dir / "table.md", render_markdown(df))
