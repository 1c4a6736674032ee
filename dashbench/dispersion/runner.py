"""The dispersion sweep: methods x lengths x inputs, written to a run folder.

Inputs are ``planted`` (:mod:`dashbench.dispersion.planted`) or ``captured:<file>`` (a ``.pt``
dict of ``[B, H, N, D]`` ``q``, ``k``, ``v`` as ``dashbench capture`` writes; an optional
``head_cls`` ``[Hkv, D]`` is used as DashAttention's summary queries). At each length ``N`` the
sampled query rows are the last ``rows`` positions (of the first ``N`` tokens of a capture).

A run folder ``results/runs/dispersion-<id>/`` holds

* ``env.json``: ``kind: dispersion``, machine, the canonical command, the sweep;
* ``queries.csv``: one row per (inputs, method, length, batch, query head, query row);
* ``results.csv`` / ``results.json`` / ``table.md``: means per (inputs, method, length);
* ``fits.csv``: slopes and the dispersion verdict per (inputs, method) (:mod:`.fit`);

rewritten after every length, so a killed run keeps what it finished. ``report.md``,
``report.html`` and ``plots/`` come from :func:`dashbench.dispersion.report.write_report`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch

from dashbench import units
from dashbench.dispersion.fit import fit_slopes
from dashbench.dispersion.methods import LABELS, METHODS, MethodSettings, method_distribution
from dashbench.dispersion.planted import check_planted, planted_needle
from dashbench.dispersion.stats import streamed_token_stats
from dashbench.harness.results import atomic_write_text, new_run_id

DTYPES = {"fp64": torch.float64, "fp32": torch.float32}
DEFAULT_SEQLEN = {"cpu": "1k,2k,4k,8k", "cuda": "1k..128k"}
KIND = "dispersion"

# Columns of results.csv (means over the sampled queries of one inputs x method x length).
SUMMARY_COLUMNS = [
    "inputs", "method", "label", "seqlen", "batch", "heads_q", "heads_kv", "head_dim", "rows", "queries",
    "needle_weight", "needle_cos", "entropy", "norm_entropy", "eff_support", "support", "max_weight",
    "block_kind", "block_entropy", "block_support", "block_max_weight", "needle_routed", "mass_err",
    "seconds", "device", "dtype", "note",
]  # fmt: skip
STAT_COLUMNS = ["needle_weight", "needle_cos", "entropy", "norm_entropy", "eff_support", "support", "max_weight",
                "block_entropy", "block_support", "block_max_weight", "needle_routed"]  # fmt: skip


def parse_seqlens(text: str) -> list[int]:
    """Lengths as a comma list of sizes (``1k,4k``) and doubling ranges (``1k..128k`` = 1k, 2k,
    4k, ..., 128k; the end must be the start times a power of two), in order, without repeats."""
    out: list[int] = []
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        if ".." in part:
            a, _, b = part.partition("..")
            lo, hi = units.parse_size(a), units.parse_size(b)
            if hi < lo:
                raise ValueError(f"{part!r}: the range ends below its start")
            n = lo
            while n < hi:
                out.append(n)
                n *= 2
            if n != hi:
                raise ValueError(f"{part!r}: {b} is not {a} times a power of two (ranges double)")
            out.append(hi)
        else:
            out.append(units.parse_size(part))
    if not out:
        raise ValueError(f"{text!r} names no length; expected {units.SIZE_HELP}, or a range like 1k..128k")
    return list(dict.fromkeys(out))


def parse_inputs(text: str) -> str:
    """``planted`` or ``captured:<file>``; ``ValueError`` otherwise."""
    text = text.strip()
    if text == "planted":
        return text
    kind, _, path = text.partition(":")
    if kind == "captured" and path:
        return text
    raise ValueError(f"{text!r}: inputs are 'planted' or 'captured:<file>'")


def inputs_label(spec: str) -> str:
    """A short name for tables: ``planted`` or ``captured:<file stem>``."""
    return spec if spec == "planted" else "captured:" + Path(spec.partition(":")[2]).stem


@dataclass
class DispersionSweep:
    """Everything a dispersion run measures; ``check`` raises ``ValueError`` naming the field."""

    methods: list[str] = field(default_factory=lambda: list(METHODS))
    seqlens: list[int] = field(default_factory=lambda: parse_seqlens(DEFAULT_SEQLEN["cpu"]))
    inputs: list[str] = field(default_factory=lambda: ["planted"])
    rows: int = 16
    batch: int = 1
    heads: tuple[int, int] = (2, 1)
    head_dim: int = 64
    margin: float = 8.0
    distractor_std: float = 0.0
    depth: float = 0.5
    chunk_size: int = 64
    dash_scaling: str = "auto"
    dash_sigma: float = 1.0
    device: str = "cpu"
    dtype: str = "fp64"
    seed: int = 0

    def settings(self) -> MethodSettings:
        return MethodSettings(chunk_size=self.chunk_size, dash_scaling=self.dash_scaling, dash_sigma=self.dash_sigma)

    def check(self) -> None:
        if not self.methods:
            raise ValueError("methods: name at least one")
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ValueError(f"methods: unknown {', '.join(map(repr, bad))}; expected some of {', '.join(METHODS)}")
        if not self.seqlens or any(int(n) < 2 for n in self.seqlens):
            raise ValueError(f"seqlens: give lengths of at least 2 tokens; got {self.seqlens}")
        if any(n <= self.rows for n in self.seqlens):
            raise ValueError(f"seqlens: every length must exceed the {self.rows} query rows; got {self.seqlens}")
        if not self.inputs:
            raise ValueError("inputs: name at least one")
        for spec in self.inputs:
            parse_inputs(spec)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype: {self.dtype!r}, expected one of {', '.join(DTYPES)}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device: {self.device!r}, expected cpu or cuda")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device: no CUDA device is visible to PyTorch")
        hq, hkv = self.heads
        if hq < 1 or hkv < 1 or hq % hkv:
            raise ValueError(f"heads: {hq}/{hkv}; query heads must be a multiple of KV heads")
        if self.batch < 1 or self.head_dim < 1:
            raise ValueError("batch and head_dim must be positive")
        if "planted" in self.inputs:
            for n in self.seqlens:
                check_planted(n, self.rows, self.head_dim, self.depth, self.margin, self.distractor_std)
        self.settings().check()

    def to_dict(self) -> dict:
        return asdict(self)

    def command(self) -> str:
        """The ``dashbench dispersion run`` command that reruns this sweep."""
        return " ".join([
            "dashbench dispersion run", f"--methods {','.join(self.methods)}",
            f"--seqlen {','.join(units.format_size(n) for n in self.seqlens)}",
            f"--inputs {','.join(self.inputs)}", f"--rows {self.rows}", f"--batch {self.batch}",
            f"--heads {self.heads[0]}/{self.heads[1]}", f"--head-dim {self.head_dim}",
            f"--margin {self.margin:g}", f"--distractor-std {self.distractor_std:g}", f"--depth {self.depth:g}",
            f"--chunk-size {self.chunk_size}", f"--dash-scaling {self.dash_scaling}",
            f"--dash-sigma {self.dash_sigma:g}", f"--device {self.device}", f"--dtype {self.dtype}",
            f"--seed {self.seed}",
        ])  # fmt: skip


def load_captured(path: str | Path) -> dict:
    """``{"q", "k", "v", "head_cls" or None, "meta"}`` from a capture file, shapes checked."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    try:
        q, k, v = saved["q"], saved["k"], saved["v"]
    except (TypeError, KeyError):
        raise ValueError(f"{path}: expected a dict with 'q', 'k', 'v' tensors (as `dashbench capture` writes)") from None
    if q.dim() != 4 or k.shape != v.shape or k.dim() != 4 or q.shape[0] != k.shape[0] or q.shape[2] != k.shape[2] \
            or q.shape[3] != k.shape[3] or q.shape[1] % k.shape[1]:  # fmt: skip
        raise ValueError(f"{path}: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} are not a [B, H, N, D] set")
    head_cls = saved.get("head_cls")
    if head_cls is not None and tuple(head_cls.shape) != (k.shape[1], k.shape[3]):
        raise ValueError(f"{path}: head_cls must be [Hkv, D] = [{k.shape[1]}, {k.shape[3]}]; got {tuple(head_cls.shape)}")
    return {"q": q, "k": k, "v": v, "head_cls": head_cls, "meta": saved.get("meta", {})}


def _case_inputs(spec: str, n: int, sweep: DispersionSweep, captured: dict | None):
    """(q rows, k, v, positions, needle or None, head_cls or None) at length ``n``."""
    dtype, device = DTYPES[sweep.dtype], sweep.device
    if spec == "planted":
        p = planted_needle(n, sweep.rows, batch=sweep.batch, heads=sweep.heads, head_dim=sweep.head_dim,
                           margin=sweep.margin, distractor_std=sweep.distractor_std, depth=sweep.depth,
                           seed=sweep.seed, dtype=dtype, device=device)  # fmt: skip
        return p.q, p.k, p.v, p.positions, p.needle, None
    q, k, v = captured["q"], captured["k"], captured["v"]
    if n > k.shape[2]:
        raise ValueError(f"{spec}: holds {k.shape[2]} tokens; length {n} asks for more")
    rows = min(sweep.rows, n)
    move = dict(device=device, dtype=dtype)
    positions = torch.arange(n - rows, n, device=device)
    return (q[:, :, n - rows : n].to(**move), k[:, :, :n].to(**move), v[:, :, :n].to(**move), positions, None,
            captured["head_cls"])  # fmt: skip


def _settings_for(settings: MethodSettings, capture: dict | None) -> MethodSettings:
    """A layer captured from a dashbench DashAttention checkpoint is measured with the
    checkpoint's own chunk size, sigma and (unless ``--dash-scaling`` names one) trained
    scaling: the routing the layer was trained with."""
    from dataclasses import replace

    own = (capture or {}).get("meta", {}).get("dashbench_attention") or {}
    if own.get("method") != "dash":
        return settings
    scaling = repr(float(own["scaling"])) if settings.dash_scaling == "auto" else settings.dash_scaling
    return replace(settings, chunk_size=int(own["chunk_size"]), dash_sigma=float(own["sigma"]), dash_scaling=scaling)


def measure(method: str, q, k, v, positions, needle, settings: MethodSettings, head_cls=None, seed: int = 0):
    """``(per-query DataFrame, note)`` of one method on one input (see :mod:`.stats`)."""
    B, Hq, R, D = q.shape
    Hkv = k.shape[1]
    G = Hq // Hkv
    dist = method_distribution(method, q, k, v, positions, settings, head_cls, seed)
    st = streamed_token_stats(q, k, v, positions, normalizer=dist.normalizer, bias=dist.bias, unit=dist.unit,
                              needle=needle)  # fmt: skip
    cols: dict[str, torch.Tensor] = {
        "entropy": st.entropy, "norm_entropy": st.normalized_entropy, "eff_support": st.effective_support,
        "support": st.support, "max_weight": st.max_weight, "mass": st.mass,
    }  # fmt: skip
    if needle is not None:
        cols["needle_weight"] = st.needle_weight
        cols["needle_cos"] = st.needle_cosine(v[:, :, needle].repeat_interleave(G, dim=1))
        routed = dist.routes(needle)
        if routed is not None:
            cols["needle_routed"] = routed.repeat_interleave(G, dim=1)
    if dist.block is not None:
        for name in ("entropy", "max_weight", "support"):
            cols[f"block_{name}"] = getattr(dist.block, name).repeat_interleave(G, dim=1)
    b, h, r = torch.meshgrid(torch.arange(B), torch.arange(Hq), torch.arange(R), indexing="ij")
    frame = pd.DataFrame({
        "batch_index": b.flatten().numpy(), "head": h.flatten().numpy(), "kv_head": (h // G).flatten().numpy(),
        "row": r.flatten().numpy(), "position": positions.cpu()[r.flatten()].numpy(),
    })  # fmt: skip
    if needle is not None:
        frame["needle_position"] = needle.cpu()[r.flatten()].numpy()
    for name, t in cols.items():
        frame[name] = t.detach().double().cpu().flatten().numpy() if t.dtype != torch.bool else t.cpu().flatten().numpy()
    frame["block_kind"] = dist.block.kind if dist.block is not None else ""
    return frame, dist.note


def summarize(queries: pd.DataFrame) -> pd.DataFrame:
    """Means per (inputs, method, length) of the per-query table (``mass_err``: the largest
    ``|mass - 1|``, a check that every distribution summed to 1)."""
    rows = []
    keys = ["inputs", "method", "seqlen"]
    for (inputs, method, n), g in queries.groupby(keys, sort=False):
        row = {"inputs": inputs, "method": method, "label": LABELS[method], "seqlen": int(n)}
        for col in ("batch", "heads_q", "heads_kv", "head_dim", "rows", "seconds", "device", "dtype", "note",
                    "block_kind"):  # fmt: skip
            row[col] = g[col].iloc[0]
        row["queries"] = len(g)
        for col in STAT_COLUMNS:
            row[col] = float(g[col].astype(float).mean()) if col in g and g[col].notna().any() else float("nan")
        row["mass_err"] = float((g["mass"] - 1).abs().max())
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


class DispersionWriter:
    """Owns one run folder; rewrites every result file atomically after each length."""

    def __init__(self, run_dir: Path, env: dict):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run_dir / "env.json", json.dumps(env, indent=2, default=str) + "\n")
        self.parts: list[pd.DataFrame] = []

    def add(self, frame: pd.DataFrame) -> None:
        self.parts.append(frame)
        self.flush()

    def queries(self) -> pd.DataFrame:
        return pd.concat(self.parts, ignore_index=True) if self.parts else pd.DataFrame()

    def flush(self) -> None:
        queries = self.queries()
        summary = summarize(queries)
        atomic_write_text(self.run_dir / "queries.csv", queries.to_csv(index=False))
        atomic_write_text(self.run_dir / "results.csv", summary.to_csv(index=False))
        atomic_write_text(self.run_dir / "results.json", summary.to_json(orient="records", indent=1) + "\n")
        table = summary.drop(columns=["label", "device", "dtype"]).astype(object)
        table = table.where(table.notna(), None)
        atomic_write_text(self.run_dir / "table.md", table.to_markdown(index=False, floatfmt=".4g", missingval="") + "\n")
        atomic_write_text(self.run_dir / "fits.csv", fit_slopes(summary).to_csv(index=False))


def run_dispersion(sweep: DispersionSweep, run_dir: Path, *, env_extra: dict | None = None,
                   log: Callable[[str], None] | None = None) -> pd.DataFrame:  # fmt: skip
    """Run the sweep into ``run_dir`` and return the summary (one row per inputs, method, length)."""
    from dashbench import env_info

    sweep.check()
    captured = {spec: load_captured(spec.partition(":")[2]) for spec in sweep.inputs if spec != "planted"}
    for spec, c in captured.items():
        too_long = [n for n in sweep.seqlens if n > c["k"].shape[2]]
        if too_long:
            raise ValueError(f"seqlens: {spec} holds {c['k'].shape[2]} tokens; "
                             f"{', '.join(map(units.format_size, too_long))} ask for more")  # fmt: skip
    env = {
        "kind": KIND, "machine": env_info.machine(), "command": sweep.command(), "argv": env_info.command_line(),
        "sweep": sweep.to_dict(), "settings": sweep.settings().to_dict(),
        "captures": {spec: c["meta"] for spec, c in captured.items()}, **(env_extra or {}),
    }  # fmt: skip
    writer = DispersionWriter(run_dir, env)
    settings = sweep.settings()
    cuda = sweep.device == "cuda"
    base_settings = settings
    for spec in sweep.inputs:
        settings = _settings_for(base_settings, captured.get(spec))
        for n in sweep.seqlens:
            q, k, v, positions, needle, head_cls = _case_inputs(spec, n, sweep, captured.get(spec))
            parts = []
            for method in sweep.methods:
                if cuda:
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                frame, note = measure(method, q, k, v, positions, needle, settings, head_cls, sweep.seed)
                if cuda:
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - t0
                B, Hq, R, D = q.shape
                frame.insert(0, "seqlen", n)
                frame.insert(0, "method", method)
                frame.insert(0, "inputs", inputs_label(spec))
                extra = {"batch": B, "heads_q": Hq, "heads_kv": k.shape[1], "head_dim": D, "rows": R,
                         "seconds": seconds, "device": sweep.device, "dtype": sweep.dtype, "note": note}  # fmt: skip
                for col, value in extra.items():
                    frame[col] = value
                parts.append(frame)
                if log:
                    done = frame["needle_weight"].mean() if "needle_weight" in frame else float("nan")
                    log(f"{inputs_label(spec)} {units.format_size(n)} {method}: entropy {frame['entropy'].mean():.3f}, "
                        f"needle weight {done:.3f} ({seconds:.2f} s)")  # fmt: skip
            writer.add(pd.concat(parts, ignore_index=True))
    return summarize(writer.queries())


def new_dispersion_run_id() -> str:
    return f"{KIND}-{new_run_id()}"

