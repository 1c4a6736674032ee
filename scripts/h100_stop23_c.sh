# Issue 3, stop 23 call c. ~8 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop23_c.sh
# 1. The router's variants timed in rounds with the order rotated (bench_router.py --rounds), the
#    default twice: call b timed the same kernel 15% apart back to back, so the earlier verdicts
#    on the rough solve and the merged max pass (ROUTE_MERGED_MAX) are retimed this way.
# 2. The end-to-end prefill at this commit (structured and random, 25% and 10%), FA3 in the same
#    process: the record of this stop's code.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
{
  mkdir -p $OUT/router
  PYTHONPATH=scripts:$PYTHONPATH timeout 260 python3 scripts/bench_router.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25,0.1 --rounds 5 \
      --variants lean_default,lean_default_again,lean_rough,lean_merged_rough --out $OUT/router 2>&1 \
      | grep -v -i warn | grep -v disagreements | cut -c1-400
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured,random --densities 0.25,0.1 --variants none --out $OUT/e2e 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
