# Issue 3, first device call of the next stop (prepared at stop 19). ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next.sh
# 1. The router's pass costs at 128k with the transposed final pass (the default since stop 19):
#    how much of the router the max + final passes still take, against one exact solver pass.
# 2. The attention over the same lists without the prior (`noprior`): what the prior's per-chunk
#    routing costs now, the most a stored per-(tile, chunk) bias could save (kernels/README).
# 3. Random inputs end to end at 128k (last timed at stop 15).
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 120 python3 scripts/router_pass_cost.py --seqlen 128k --hkv 2,8 \
      --iters 0,1 --out $OUT 2>&1 | grep -v -i warn | cut -c1-900
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 2,8 \
      --inputs structured --densities 0.25 --variants noprior --out $OUT/noprior 2>&1 | grep -v -i warn | cut -c1-600
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 \
      --inputs random --densities 0.25 --variants none --out $OUT/random 2>&1 | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
