# Issue 3, stop 20, first device call (prepared at stop 19; ran at d6bd9f9). ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop20_a.sh
# 1. The router's pass costs at 128k with the transposed final pass (the default since stop 19):
#    how much of the router the max + final passes still take, against one exact solver pass.
# 2. The attention over the same lists without the prior (`noprior`): what the prior's per-chunk
#    routing costs now, the most a stored per-(tile, chunk) bias could save (kernels/README).
#    With it, the prior's biases computed before the attention (`storedbias`, prior.py, off:
#    interface.ATTEND_STORED_BIAS): their kernel, the attention reading them (diagonal first and
#    last, 2 and 3 stages: the attention's registers fall 253 -> 142 without the recomputation),
#    against the attention recomputing them; and the GPU tests of prior.py (bf16 included).
# (Then scripts/h100_stop20_b.sh.)
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 120 python3 scripts/router_pass_cost.py --seqlen 128k --hkv 2,8 \
      --iters 0,1 --out $OUT 2>&1 | grep -v -i warn | cut -c1-900
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 2,8 \
      --inputs structured --densities 0.25 --variants noprior,storedbias --out $OUT/noprior 2>&1 | grep -v -i warn \
      | cut -c1-900
  echo
  timeout 100 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_prior.py 2>&1 | tail -4
} 2>&1 | tee $OUT/log.txt
