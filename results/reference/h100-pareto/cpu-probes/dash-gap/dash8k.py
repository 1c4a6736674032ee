import sys, time, torch
from dashbench.models import load_checkpoint
from dashbench.evaluation import evaluate, set_sparsity
torch.set_num_threads(2)
ckpt, seqlen, ex, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
m = load_checkpoint(ckpt, method="dash")
t0 = time.time(); s = set_sparsity(m, target, seqlen)
print("scaling", s, time.time()-t0, flush=True)
e = evaluate(m, "mqar", seqlen, ex, batch=2)
print(f"dash target {target} scaling {s:.3g} mqar acc {e.accuracy:.3f} ({e.correct}/{e.examples}) sparsity {e.sparsity:.3f} {time.time()-t0:.0f}s", flush=True)
