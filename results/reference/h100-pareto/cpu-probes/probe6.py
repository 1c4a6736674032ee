import sys, time, torch
from transformers import LlamaConfig, LlamaForCausalLM
from dashbench.tasks import generate, VOCAB
from dashbench.tasks.scoring import token_accuracy
from dashbench.training import copy_batch
torch.manual_seed(0)
lr = float(sys.argv[1]); mode = sys.argv[2]; seqlen = 64
from dashbench.models.tiny import tiny_config
cfg = tiny_config(VOCAB.size, max_positions=4096, num_key_value_heads=int(sys.argv[3]))
m = LlamaForCausalLM(cfg); m.set_attn_implementation("sdpa")
opt = torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
t0 = time.time()
def fixed_copy(step):
    g = torch.Generator().manual_seed(step); half = seqlen // 2
    seg = torch.randint(16, VOCAB.size, (32, half), generator=g); ids = torch.cat([seg, seg], 1)
    lab = ids.clone(); lab[:, :half] = -100; return ids, lab
for step in range(4000):
    k = step % 3
    if mode == "mix" and k == 0: ids, lab = fixed_copy(step)
    elif mode in ("mix", "var") and k == 1:
        b = copy_batch(32, seqlen, step, VOCAB, "cpu"); ids, lab = b.input_ids, b.labels
    else:
        b = generate("mqar", 32, seqlen, seed=step, n_pairs=8, n_queries=8); ids, lab = b.input_ids, b.labels
    for gr in opt.param_groups: gr["lr"] = lr * min(1, (step + 1) / 100)
    out = m(input_ids=ids, labels=lab)
    out.loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step(); opt.zero_grad()
    if step % 100 == 0:
        b = generate("mqar", 64, seqlen, seed=10**6 + step, n_pairs=8, n_queries=8)
        v = copy_batch(32, seqlen, 10**6 + step, VOCAB, "cpu")
        with torch.no_grad():
            a = token_accuracy(m(input_ids=b.input_ids).logits, b).value
            lv = m(input_ids=v.input_ids).logits[:, :-1].argmax(-1) == v.input_ids[:, 1:]
            c = lv[v.answer_mask[:, 1:]].float().mean().item()
        print(step, "mqar", round(a, 3), "varcopy", round(c, 3), round(time.time() - t0), flush=True)
