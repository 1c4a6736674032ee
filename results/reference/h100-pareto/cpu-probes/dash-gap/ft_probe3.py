import sys, time, torch
from pathlib import Path
from dashbench.models import load_checkpoint
from dashbench.evaluation import evaluate, set_sparsity
from dashbench.training import TrainConfig, Stage, train
torch.set_num_threads(1)
method, seqlen, steps, lr, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
dense = sys.argv[6] if len(sys.argv) > 6 else "/tmp/m5/models/dense"
def ev(path, label):
    m = load_checkpoint(path, method=method)
    s = set_sparsity(m, target, seqlen)
    for task in ["mqar", "niah"]:
        e = evaluate(m, task, seqlen, 8, batch=4)
        print(f"{label} knob {s:.3g} {task} acc {e.accuracy:.3f} ({e.correct}/{e.examples}) sparsity {e.sparsity:.3f}", flush=True)
ev(dense, "before")
t0 = time.time()
cfg = TrainConfig(method=method, target_sparsity=target, tasks=("mqar", "niah"), stages=(Stage(seqlen, 4, steps),),
                  lr=lr, warmup=10, init_from=dense, log_every=10)
out = Path(f"/tmp/ft-{method}-{seqlen}-{steps}-{lr}-" + Path(dense).name)
s = train(cfg, out, device="cpu")
print("trained", round(time.time() - t0), "s", flush=True)
import pandas as pd; print(pd.read_csv(out / "train_log.csv")[["step","task","loss","question_accuracy","token_density","knob_value"]].round(3).to_string(), flush=True)
ev(out, "after")
