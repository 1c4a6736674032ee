# Issue 3, stop 23 call d. ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop23_d.sh
# route.ROUTE_MERGED_MAX on (call c: 4-6% off the router at 128k, structured, timed in rotated
# rounds). Its GPU tests; the router on random inputs with and without it (rounds, checked
# against the separate max pass: the first router's arithmetic differs on ~0.1% of random
# 128k tiles); the end-to-end prefill at 128k with it (the default now) and without it, each
# process timing FA3 too.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
{
  timeout 120 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "merged or rough_solver or solver_step_from" 2>&1 | tail -4
  echo
  mkdir -p $OUT/router_random
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_router.py --seqlen 32k,128k --hkv 8,2 \
      --inputs random --densities 0.25 --rounds 3 --check-against lean_separate_max \
      --variants lean_separate_max,lean_merged_max --out $OUT/router_random 2>&1 \
      | grep -v -i warn | grep -v disagreements | cut -c1-300
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 130 python3 scripts/bench_dash.py --seqlen 128k --hkv 8,2 \
      --inputs structured,random --densities 0.25,0.1 --variants none --out $OUT/e2e_merged 2>&1 | grep -v -i warn | cut -c1-300
  PYTHONPATH=scripts:$PYTHONPATH timeout 130 python3 scripts/bench_dash.py --seqlen 128k --hkv 8,2 \
      --inputs structured,random --densities 0.25,0.1 --variants none --route-setting ROUTE_MERGED_MAX=False \
      --out $OUT/e2e_separate 2>&1 | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
