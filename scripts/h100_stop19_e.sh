# Issue 3, stop 19, a short last device call (~1.5 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop19_e.sh
# The router's pass costs at 128k with the transposed final pass (the default since 245b793).
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 90 python3 scripts/router_pass_cost.py --seqlen 128k --hkv 2,8 \
      --iters 0,1 --out $OUT 2>&1 | grep -v -i warn | cut -c1-900
} 2>&1 | tee $OUT/log.txt
