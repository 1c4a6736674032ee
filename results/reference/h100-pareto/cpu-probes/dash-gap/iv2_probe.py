import sys, time, torch
from dashbench.models import load_checkpoint
from dashbench.evaluation import evaluate, set_sparsity
torch.set_num_threads(2)
ckpt, seqlen, ex, method = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
m = load_checkpoint(ckpt, method=method)
t0 = time.time(); s = set_sparsity(m, 0.75, seqlen)
for task in ["mqar", "niah"]:
    e = evaluate(m, task, seqlen, ex, batch=2)
    print(f"{method} knob {s:.3g} {task} acc {e.accuracy:.3f} ({e.correct}/{e.examples}) sparsity {e.sparsity:.3f} {time.time()-t0:.0f}s", flush=True)
