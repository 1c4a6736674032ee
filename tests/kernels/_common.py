"""Shared by the DashAttention kernel tests: device choice, inputs, error measure."""

import os

import pytest
import torch

needs_triton = pytest.mark.skipif(
    not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1",
    reason="needs a GPU or TRITON_INTERPRET=1",
)
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="Gluon kernels run only on a GPU")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# fp32 inputs: exact in the CPU interpreter; on the GPU the attention products run in tf32.
FP32_TOL = 1e-5 if DEVICE == "cpu" else 3e-3


def make_inputs(B, hq, hkv, n, d, seed, dtype=torch.float32):
    """Seeded Gaussian q, k, v and a small random head_cls, on DEVICE."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, h, n, d, generator=g) for h in (hq, hkv, hkv))
    w = torch.randn(hkv, d, generator=g) / d**0.5
    return [t.to(DEVICE, dtype) for t in (q, k, v, w)]


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def gluon_backward_case(B, hq, hkv, n, d, dtype, seed):
    """q, k, v, head_cls and d_out on the GPU for the Gluon backward tests (one generator, drawn
    in that order)."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    q, k, v = (torch.randn(B, h, n, d, generator=g, device="cuda").to(dtype) for h in (hq, hkv, hkv))
    w = (0.3 * torch.randn(hkv, d, generator=g, device="cuda")).to(dtype)
    return q, k, v, w, torch.randn(q.shape, generator=g, device="cuda").to(dtype)


def dash_out_and_grads(q, k, v, w, do, **kw):
    """dash_attention's output and its gradients in q, k, v, head_cls (fp32), for one d_out."""
    from dashbench.kernels import dash_attention

    args = [t.clone().requires_grad_() for t in (q, k, v, w)]
    out = dash_attention(*args, **kw)
    out.backward(do)
    return [out.float()] + [t.grad.float() for t in args]


def grads_with_switches_off_and_on(monkeypatch, module, switches, case, **kw):
    """``dash_out_and_grads`` of ``case`` with every name in ``switches`` set False, then True."""
    results = []
    for on in (False, True):
        for name in switches:
            monkeypatch.setattr(module, name, on)
        results.append(dash_out_and_grads(*case, **kw))
    return results


def assert_grads_match_fp64(got, case, tol, **kw):
    """Gradients ``got[1:]`` (of ``dash_out_and_grads``) against autograd through the float64
    reference, each to ``tol``."""
    from dashbench.kernels.reference import dash_attention_reference

    q, k, v, w, do = case
    ref_args = [t.double().clone().requires_grad_() for t in (q, k, v, w)]
    dash_attention_reference(*ref_args, compute_dtype=torch.float64, **kw).backward(do.double())
    for name, a, want in zip(("dq", "dk", "dv", "dhead_cls"), got[1:], ref_args):
        assert rel(a, want.grad) < tol, (name, rel(a, want.grad))


def stored_bias_case(B, hq, hkv, n, d, seed, dtype=torch.bfloat16, rows=64, fp16_bias=True):
    """A routed case for the Gluon attentions, and ``attend``'s answer over its lists and stored
    biases (fp16, or as ``prior.listed_bias`` makes them): a dict of q, k, v, the router's mask,
    lists (offsets, counts, ids), bias, bm, gp and the wanted out and lse (chunks of 64)."""
    from dashbench.kernels.dash.attend import attend
    from dashbench.kernels.dash.prior import listed_bias
    from dashbench.kernels.dash.route import chunk_lists, padded_group, route, tile_rows
    from dashbench.kernels.dash.summarize import summarize

    C, scaling = 64, 3.0
    q, k, v, w = make_inputs(B, hq, hkv, n, d, seed=seed, dtype=dtype)
    G = hq // hkv
    bm, gp = tile_rows(G, C, rows), padded_group(G)
    s = summarize(k, w, C)
    tau, log_g, _, mask, counts = route(q, s, C, scaling, bm, route_bm=tile_rows(G, C, 128))
    offsets, ids = chunk_lists(mask, counts)
    bias = listed_bias(q, s, tau, log_g, offsets, counts, ids, scaling=scaling, sigma=1.0, estimate_diagonal=True,
                       bm=bm, gp=gp)  # fmt: skip
    bias = bias.half() if fp16_bias else bias
    want, want_lse = attend(q, k, v, s, tau, log_g, offsets, counts, ids, chunk_size=C, scaling=scaling, bm=bm,
                            gp=gp, bias=bias, diagonal_last=True, tma=True, num_stages=3)  # fmt: skip
    return dict(q=q, k=k, v=v, mask=mask, offsets=offsets, counts=counts, ids=ids, bias=bias, bm=bm, gp=gp,
                want=want, want_lse=want_lse)  # fmt: skip


def sm90_listing(module: str, n_lines: int) -> list[str]:
    """The ``G=...`` lines a Gluon kernel module prints when run (``python -m module``: its
    sm_90 builds' resources and schedules, compiled on the CPU), asserting that it ran and
    printed ``n_lines`` of them."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("G=")]
    assert proc.returncode == 0 and len(lines) == n_lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    return lines
