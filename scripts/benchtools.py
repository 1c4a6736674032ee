"""Shared by the GPU scripts: the timer, the dense baselines, the one-shot CUDA-event timer and
the JSON record (device, torch, command, rows)."""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

import torch
import triton.testing
from torch.nn.attention import SDPBackend, sdpa_kernel

from dashbench.harness.timing import budgets


def bench(fn, graph: bool = False, grads=None, min_runs: int = 10) -> float:
    """Median ms (L2 flushed between runs), or of CUDA-graph replays with ``graph``; budgets
    grown so at least ``min_runs`` runs are measured (as the harness: ``budgets``). One call
    first, so that a compilation does not enter the budgets (it made a 28 ms router call's
    budgets grow to ~50 s)."""
    fn()
    warmup, rep = budgets(fn, 25, 100, min_runs)
    if graph:
        return triton.testing.do_bench_cudagraph(fn, rep=rep, return_mode="median")
    return triton.testing.do_bench(fn, warmup=warmup, rep=rep, grad_to_none=grads, return_mode="median")


def graph_ms_rotating(steps: list) -> float:
    """Median ms of one step under CUDA-graph replays that run ``steps`` in turn, each on its own
    copy of the inputs (every replay touches every copy). A replay has no launch gaps, and the
    rotation keeps the steps' reads cold: replaying one step over one cache whose touched bytes
    fit the L2 (e.g. a sparse decode step's ~13 MB at 128k, Hkv 2, B=1, 10%) would time the
    cache (the device notes' METHOD.md: rotate input sets that fit it)."""

    def all_steps():
        for step in steps:
            step()

    all_steps()
    _, rep = budgets(all_steps, 25, 100, 10)
    return triton.testing.do_bench_cudagraph(all_steps, rep=rep, return_mode="median") / len(steps)


def decode_case(hkv: int, length: int, density: float, chunk: int = 64, seed: int = 2):
    """The decode benchmarks' case: ``(q, k, v, head_cls, scaling)``, structured bf16 inputs of
    one sequence (32 query heads, head dim 128), ``head_cls = 0`` and the scaling that gives the
    decoded row (position ``length - 1``) the token density ``density`` itself (calibrated on the
    prefill's mean, that row sat at ~6% for a 10% target until stop 26)."""
    from dashbench.harness.inputs import structured_qkv
    from dashbench.kernels import calibrate_scaling

    q, k, v = structured_qkv(1, 32, hkv, length, 128, chunk_size=chunk, dtype=torch.bfloat16, device="cuda",
                             seed=seed)  # fmt: skip
    w = torch.zeros(hkv, 128, device="cuda", dtype=torch.bfloat16)
    scaling = calibrate_scaling(q[:, :, -1:], k, w, density, chunk_size=chunk, rows=[length - 1])
    return q, k, v, w, scaling


def decode_batch(q1, k1, v1, head_cls, batch: int, chunk: int = 64):
    """``(q, k, v, cache)`` of a decode step over ``batch`` copies of one sequence (``decode_case``'s
    tensors): the last query row, the keys and values, and a ``DashCache`` filled from them."""
    from dashbench.kernels import DashCache

    k, v = k1.expand(batch, -1, -1, -1).contiguous(), v1.expand(batch, -1, -1, -1).contiguous()
    q = q1[:, :, -1:].expand(batch, -1, -1, -1).contiguous()
    return q, k, v, DashCache.from_prefill(k, v, head_cls, chunk_size=chunk)


def cached_kv(cache):
    """The keys and values a ``DashCache`` holds (views of its first ``length`` rows): what a
    dense baseline reads for the same step."""
    return cache.k[:, :, : cache.length], cache.v[:, :, : cache.length]


def cold_decode_copies(q, cache, density: float, memory_budget: float = 4 * 2**30):
    """``(qs, caches, l2_multiple)`` for ``graph_ms_rotating``: copies of a decode step's query
    and of its ``cache`` (the first is ``cache`` itself), enough that the bytes a step touches,
    summed over the copies, pass 4 L2s (within ``memory_budget`` bytes of caches);
    ``l2_multiple`` is how many L2s they reach. A step touches its routed K/V at token density
    ``density`` (a lower bound: a KV head reads the union of its query heads' chunks) and the
    summaries."""
    from dashbench.kernels import DashCache

    n, C = cache.length, cache.chunk_size
    k, v = cache.k[:, :, :n], cache.v[:, :, :n]
    touched = density * 2 * k.numel() * k.element_size() + cache.summaries[:, :, : n // C].nbytes
    one_copy = cache.k.nbytes + cache.v.nbytes + cache.summaries.nbytes
    l2 = torch.cuda.get_device_properties(torch.cuda.current_device()).L2_cache_size
    copies = max(1, min(math.ceil(4 * l2 / max(touched, 1.0)), int(memory_budget // one_copy)))
    caches = [cache] + [DashCache.from_prefill(k, v, cache.head_cls, chunk_size=C) for _ in range(copies - 1)]
    return [q.clone() for _ in caches], caches, copies * touched / l2


WORST_TOKENS = 8


def dq_error_split(grad, ref_grad) -> dict:
    """dq's error against the reference without its ``WORST_TOKENS`` worst tokens, their share
    of it, and which they are: a token that routes a chunk within rounding of its threshold has
    an unbounded ``d log p / dx`` (the spec's pole), and one such token can carry nearly all of
    the relative norm (stop 26: 99.85% at 32k, Hkv 8)."""
    per_token = (grad.float() - ref_grad.float()).pow(2).sum(dim=(0, 1, 3))
    worst = torch.topk(per_token, WORST_TOKENS)
    rest = (per_token.sum() - worst.values.sum()).clamp_min(0)
    return {
        "rel_err_dq_without_worst8": float(rest.sqrt() / ref_grad.float().norm()),
        "dq_err_share_worst8": float(worst.values.sum() / per_token.sum()),
        "worst": worst,
    }


def bench_rounds(calls: dict, rounds: int = 5, min_runs: int = 10) -> dict:
    """Each call's median ms over ``rounds`` rounds that time every call once (``bench``), the
    order rotated a round, so that the board's drift under its power cap (the same router
    kernel timed back to back differed by up to 15% at stop 23) falls on every call alike:
    ``{name: {"ms": median of the rounds, "lo": fastest round, "hi": slowest, "runs": each
    round's}}``. A difference between two calls inside their rounds' spread is noise (METHOD.md:
    time the same version twice)."""
    names = list(calls)
    if not names:
        return {}
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(bench(calls[name], min_runs=min_runs))
    return {name: {"ms": statistics.median(ts), "lo": min(ts), "hi": max(ts), "runs": ts} for name, ts in times.items()}


def routed_cases(hkvs, seqlens, inputs, densities, *, hq: int = 32, d: int = 128, chunk: int = 64,
                 device: str = "cuda"):  # fmt: skip
    """The router benchmarks' cases: for each KV-head count, length, input kind and target density,
    ``SimpleNamespace(hkv, G, bm, rbm, n, kind, target, q, k, w, s, scaling)``: bf16 inputs
    (seed 1), ``head_cls = 0``, the summaries, the attention's and the router's tile tokens and
    the scaling calibrated to the target; the inputs are freed before the next kind's are drawn."""
    from types import SimpleNamespace

    from dashbench.harness.inputs import make_qkv
    from dashbench.kernels import calibrate_scaling
    from dashbench.kernels.dash.interface import ATTEND_ROWS, ROUTE_ROWS
    from dashbench.kernels.dash.route import tile_rows
    from dashbench.kernels.dash.summarize import summarize

    for hkv in hkvs:
        G = hq // hkv
        bm, rbm = tile_rows(G, chunk, ATTEND_ROWS), tile_rows(G, chunk, ROUTE_ROWS)
        for n in seqlens:
            for kind in inputs:
                q, k, _ = make_qkv(kind, 1, hq, hkv, n, d, dtype=torch.bfloat16, device=device, seed=1)
                w = torch.zeros(hkv, d, device=device, dtype=torch.bfloat16)
                s = summarize(k, w, chunk)
                for target in densities:
                    scaling = calibrate_scaling(q, k, w, target, chunk_size=chunk)
                    yield SimpleNamespace(hkv=hkv, G=G, bm=bm, rbm=rbm, n=n, kind=kind, target=target, q=q, k=k, w=w,
                                          s=s, scaling=scaling)  # fmt: skip
                del q, k, w, s
                if device == "cuda":
                    torch.cuda.empty_cache()


def add_case_args(ap, seqlen: str = "128k", inputs: str = "structured") -> None:
    """The router benchmarks' case options: ``--seqlen``, ``--hkv``, ``--densities``, ``--inputs``."""
    ap.add_argument("--seqlen", default=seqlen)
    ap.add_argument("--hkv", default="8,2")
    ap.add_argument("--densities", default="0.25,0.1")
    ap.add_argument("--inputs", default=inputs)


def cases_from_args(args, chunk: int = 64):
    """``routed_cases`` over the options ``add_case_args`` added."""
    from dashbench.units import parse_size_list

    return routed_cases(map(int, args.hkv.split(",")), parse_size_list(args.seqlen), args.inputs.split(","),
                        [float(x) for x in args.densities.split(",")], chunk=chunk)  # fmt: skip


def _parse_settings(items) -> list:
    """``[(module, name, value)]`` from ``[MODULE.]NAME=VALUE`` strings (a Python literal; MODULE
    one of route (the default), prior, interface of ``dashbench.kernels.dash``)."""
    import ast

    from dashbench.kernels.dash import interface, prior, route

    modules = {"route": route, "prior": prior, "interface": interface}
    parsed = []
    for item in items:
        key, value = item.split("=", 1)
        module_name, _, name = key.rpartition(".")
        module = modules.get(module_name or "route")
        if module is None or not hasattr(module, name):
            raise SystemExit(f"no setting {key} (modules: {', '.join(modules)})")
        parsed.append((module, name, ast.literal_eval(value)))
    return parsed


def apply_settings(items) -> None:
    """Set kernel settings from ``[MODULE.]NAME=VALUE`` strings (``_parse_settings``), printing each."""
    for module, name, value in _parse_settings(items):
        setattr(module, name, value)
        print(f"{module.__name__.rsplit('.', 1)[-1]}.{name} = {value!r}", flush=True)


def under_settings(fn, items):
    """``fn`` as a call that runs it with the settings ``items`` (``[MODULE.]NAME=VALUE``) applied and
    then restores them: a variant timed in the same rounds as the default."""
    parsed = _parse_settings(items)

    def call():
        saved = [getattr(module, name) for module, name, _ in parsed]
        for module, name, value in parsed:
            setattr(module, name, value)
        try:
            return fn()
        finally:
            for (module, name, _), value in zip(parsed, saved):
                setattr(module, name, value)

    return call


def cudnn(q, k, v, causal: bool = True):
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)


def fa3_module():
    """FlashAttention-3's forward-only interface, or ``None`` when it is not installed."""
    try:
        import fa3_fwd_interface

        return fa3_fwd_interface
    except ImportError:
        return None


def fa3_step(fa3, q, k, v):
    """FA3 on ``[B, H, N, D]`` tensors (read through transposed views): the prefill kernel, or
    for one query per sequence the KV-cache kernel, which picks its split-KV itself."""
    qt, kt, vt = (t.transpose(1, 2) for t in (q, k, v))
    if q.shape[2] == 1 and k.shape[2] > 1:
        return lambda: fa3.flash_attn_with_kvcache(qt, kt, vt, causal=True, num_splits=0)
    return lambda: fa3.flash_attn_func(qt, kt, vt, causal=True)


def timed(fn):
    """``(fn(), ms)`` of one call between two CUDA events (not a benchmark: a single run)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    out = fn()
    end.record()
    torch.cuda.synchronize()
    return out, start.elapsed_time(end)


def save_rows(out: Path | None, name: str, rows: list) -> None:
    """``out/name`` as JSON with the device, torch and command; written after every row by the
    long scripts, so a run cut short by a time limit keeps what it measured."""
    if out:
        out.mkdir(parents=True, exist_ok=True)
        meta = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                "command": "python " + " ".join(sys.argv), "rows": rows}  # fmt: skip
        (out / name).write_text(json.dumps(meta, indent=1) + "\n")
