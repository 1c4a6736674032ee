# Issue 3, stop 33 call c: the tile unions written by the router's exact passes, converged tiles
# skipping the final pass, counts and log_g from the lists by the bias kernel
# (route.ROUTE_UNION_IN_SOLVE, off until timed). ~7 min. Carry the three device wheels.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop33_c.sh
# 1. GPU tests: the new router/bias/dash_attention tests (bf16 included), the prior's file;
# 2. the router alone at 128k, 3 rotated rounds (the variant checked on thresholds and unions);
# 3. prefill at 128k and 32k, structured, 3 rounds, FA3 in the same process, against the switch on;
#    random inputs at 128k, 25%.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_union 150 tests/kernels/dash/test_dash_attention.py -k "unions_from_the_solver"
  gpu_tests test_prior 60 tests/kernels/dash/test_prior.py
  env $B timeout 120 python3 scripts/bench_router.py --seqlen 128k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 --check-against lean_default --rounds 3 \
      --variants lean_default,lean_union,lean_default_again \
      --out $OUT/router 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 150 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs structured \
      --densities 0.1,0.25 --variants none --rounds 3 --rounds-against route.ROUTE_UNION_IN_SOLVE=True \
      --out $OUT/e2e_128k 2>&1 | grep -v -i warn | cut -c1-400
  env $B timeout 60 python3 scripts/bench_dash.py --seqlen 32k --hkv 2,8 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 3 --rounds-against route.ROUTE_UNION_IN_SOLVE=True \
      --out $OUT/e2e_32k 2>&1 | grep -v -i warn | cut -c1-400
  env $B timeout 80 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs random \
      --densities 0.25 --variants none --rounds 3 --rounds-against route.ROUTE_UNION_IN_SOLVE=True \
      --out $OUT/e2e_128k_random 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
