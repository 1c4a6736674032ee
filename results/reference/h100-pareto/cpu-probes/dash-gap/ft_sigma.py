import sys, torch
from dashbench.models import load_checkpoint
from dashbench.evaluation import evaluate, set_sparsity
torch.set_num_threads(2)
for sigma in [1.0, 1e6]:
    m = load_checkpoint(sys.argv[1], sigma=sigma)
    s = set_sparsity(m, 0.5, 2048)
    for task in ["mqar", "niah"]:
        e = evaluate(m, task, 2048, 8, batch=4)
        print(f"sigma {sigma:g} scaling {s:.3g} {task} acc {e.accuracy:.3f} ({e.correct}/{e.examples}) sparsity {e.sparsity:.3f}", flush=True)
