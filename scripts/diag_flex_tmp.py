import torch, traceback
from dashbench.kernels.nsa.interface import window_branch, compressed_branch
from dashbench.kernels.reference.nsa import NSAConfig
cfg = NSAConfig(block_size=32, cmp_size=16, cmp_stride=8, topk=5, init_blocks=1, local_blocks=1, window=40)
for d, n, hq, hkv, grad_first in [(128, 1024, 32, 2, True), (64, 256, 4, 2, True), (64, 256, 4, 2, False), (128, 256, 4, 2, True), (64, 1024, 4, 2, True)]:
    torch._dynamo.reset()
    q = torch.randn(1, hq, n, d, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, hkv, n, d, device="cuda", dtype=torch.bfloat16)
    for what in ("window", "cmp"):
        try:
            if not grad_first:
                with torch.no_grad():
                    window_branch(q, k, k, 40)
            a = [t.clone().requires_grad_() for t in (q, k)]
            if what == "window":
                o = window_branch(a[0], a[1], a[1], 40)
            else:
                kc = a[1][:, :, : n // 8] * 1.0
                o = compressed_branch(a[0], kc, kc, cfg)
            o.float().sum().backward()
            print("ok", what, d, n, hq, hkv, grad_first, flush=True)
        except Exception as e:
            print("FAIL", what, d, n, hq, hkv, grad_first, type(e).__name__, str(e).splitlines()[-1][:150] if str(e) else "", flush=True)
