"""``dashbench e2e``: a whole model's prefill and decode speed per attention method.

For each method and length: time-to-first-token (the prefill of an ``L``-token prompt up to the
first token's logits) and decode throughput (``decode_tokens`` greedy steps against the cache
the prefill built), as medians over ``repeats`` runs timed with device events after a warm-up
run, plus the peak memory beyond the weights (of the timed runs), and the token density the
sparse methods reach on the timed prompt (measured on an untimed prefill: the knob is set on a
task batch, so the two can differ; a decode step's own density is not measured). Methods: ``sdpa`` (PyTorch's attention, the
dense baseline that always exists), ``fa3`` (FlashAttention-3, when installed: never replaced
by another under its name), and the sparse methods at ``sparsity`` (set on the model, as
``dashbench pareto`` does). On a CPU everything runs the PyTorch references: a correctness
run, not a benchmark, and labelled so.
"""

from __future__ import annotations

import statistics
import time

import torch

DENSE = ("sdpa", "fa3")


class _Timer:
    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __enter__(self):
        if self.cuda:
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.end.record()
            torch.cuda.synchronize()
            self.ms = self.start.elapsed_time(self.end)
        else:
            self.ms = (time.perf_counter() - self.t0) * 1e3
        return False


def load_for(ckpt, method: str, device: str, dtype: torch.dtype):
    from dashbench.models import load_checkpoint

    if method in DENSE:
        return load_checkpoint(ckpt, method="dense", device=device, dtype=dtype, attn_implementation=method)
    return load_checkpoint(ckpt, method=method, device=device, dtype=dtype)


def measure(model, seqlen: int, *, decode_tokens: int, repeats: int, seed: int = 0) -> dict:
    """Prefill and decode times of ``model`` on a seeded random prompt of ``seqlen`` tokens."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    prompt = torch.randint(16, model.config.vocab_size, (1, seqlen), generator=g).to(device)
    from dashbench.models.attention import record_density

    weights = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
    ttft, decode = [], []
    with torch.no_grad():
        with record_density() as log:  # the prefill's own density on this prompt (untimed)
            model(input_ids=prompt, logits_to_keep=1)
        density = log.mean if log.densities else 1.0
        for run in range(repeats + 1):  # run 0 warms up (compilation, autotuning, allocator)
            if run == 1 and device.type == "cuda":  # the peak of the timed runs, not of compilation
                torch.cuda.reset_peak_memory_stats(device)
            cache = DynamicCache()
            with _Timer(device) as t:
                out = model(input_ids=prompt, past_key_values=cache, use_cache=True, logits_to_keep=1)
                token = out.logits[:, -1:].argmax(-1)
            with _Timer(device) as d:
                for _ in range(decode_tokens):
                    out = model(input_ids=token, past_key_values=out.past_key_values, use_cache=True)
                    token = out.logits[:, -1:].argmax(-1)
            if run:
                ttft.append(t.ms)
                decode.append(d.ms)
            del out, cache
    peak = (torch.cuda.max_memory_allocated(device) - weights) / 2**20 if device.type == "cuda" else float("nan")
    dec_ms = statistics.median(decode)
    return dict(token_density=density, ttft_ms=statistics.median(ttft), ttft_ms_min=min(ttft), decode_ms_per_token=dec_ms / decode_tokens,
                decode_tokens_per_s=decode_tokens / (dec_ms / 1e3), peak_extra_mib=peak, repeats=repeats,
                decode_tokens=decode_tokens)  # fmt: skip


def run_e2e(ckpt, *, methods: list[str], seqlens: list[int], sparsity: float, decode_tokens: int, repeats: int,
            device: str, progress=None) -> list[dict]:  # fmt: skip
    from dashbench.evaluation import set_sparsity
    from dashbench.models import settings_of

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    rows = []
    task_id = progress.add_task("e2e", total=len(methods) * len(seqlens)) if progress else None
    for method in methods:
        try:
            model = load_for(ckpt, method, device, dtype).eval()
        except ValueError as e:
            rows += [dict(method=method, seqlen=n, status="UNSUPPORTED", note=str(e)) for n in seqlens]
            if progress:
                progress.advance(task_id, len(seqlens))
            continue
        for n in seqlens:
            if progress:
                progress.update(task_id, description=f"e2e {method} L={n}")
            row = dict(method=method, seqlen=n, device=device, dtype=str(dtype).removeprefix("torch."))
            try:
                if method not in DENSE:
                    set_sparsity(model, sparsity, n)
                    s = settings_of(model.config)
                    row |= dict(target_sparsity=sparsity, knob=s.knob, knob_value=s.knob_value)
                row |= measure(model, n, decode_tokens=decode_tokens, repeats=repeats) | dict(status="OK")
            except torch.cuda.OutOfMemoryError:
                row |= dict(status="OOM")
                torch.cuda.empty_cache()
            except ValueError as e:
                row |= dict(status="UNSUPPORTED", note=str(e))
            rows.append(row)
            if progress:
                progress.advance(task_id)
        del model
    return rows


def add_speedups(rows: list[dict]) -> list[dict]:
    """TTFT and decode speedups over the dense baseline that ran (fa3 when it did, else sdpa),
    named in ``baseline``."""
    for n in {r["seqlen"] for r in rows}:
        same = {r["method"]: r for r in rows if r["seqlen"] == n and r.get("status") == "OK"}
        base = same.get("fa3") or same.get("sdpa")
        for r in rows:
            if r["seqlen"] == n and r.get("status") == "OK" and base:
                r["baseline"] = base["method"]
                r["ttft_speedup"] = base["ttft_ms"] / r["ttft_ms"]
                r["decode_speedup"] = r["decode_tokens_per_s"] / base["decode_tokens_per_s"]
    return rows
