# Issue 3, first device call of the next stop (prepared at stop 15): the end-to-end prefill table
# at 32k and 128k (structured, 25% and 10%) with the lean router at 64-chunk blocks, which stop
# 15's last call did not finish, and what the prior's per-(row, chunk) work costs the attention
# (the same lists as plain block-sparse attention: --variants noprior). ~3 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next.sh
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 300 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 --inputs structured \
      --densities 0.25,0.10 --variants noprior --out $OUT 2>&1 | grep -v -i warn
} 2>&1 | tee $OUT/log.txt
