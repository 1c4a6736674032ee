import sys, time, torch
import dashbench.kernels.reference.dash as D
from dashbench.models import load_checkpoint
from dashbench.evaluation import evaluate, set_sparsity
torch.set_num_threads(2)
orig = D.routing_bias
def with_local(p_bar, positions, chunk_size, sigma, est):
    bias, active = orig(p_bar, positions, chunk_size, sigma, est)
    bias = bias.clone(); active = active.clone()
    own = torch.div(positions, chunk_size, rounding_mode="floor")
    prev = (torch.arange(p_bar.shape[-1])[None, :] == (own - 1)[:, None])  # [Nq, n_c]
    prev = prev.expand_as(active)
    bias = torch.where(prev & ~active, torch.zeros_like(bias), bias)
    active = active | prev
    return bias, active
if sys.argv[4] == "local":
    D.routing_bias = with_local
ckpt, seqlen, ex = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
m = load_checkpoint(ckpt, method="dash")
t0 = time.time(); s = set_sparsity(m, float(sys.argv[5]), seqlen)
for task in ["mqar", "niah"]:
    e = evaluate(m, task, seqlen, ex, batch=2)
    print(f"{sys.argv[4]} scaling {s:.3g} {task} acc {e.accuracy:.3f} ({e.correct}/{e.examples}) sparsity {e.sparsity:.3f} {time.time()-t0:.0f}s", flush=True)
