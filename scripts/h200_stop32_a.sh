# Issue 3, stop 32 call a. ~9.5 min (limits sum to 540 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop32_a.sh
# (A record of what ran: its lean_sample_direct, lean_cold_direct and lean_sample_exact_direct
# variants were removed after it; commit e2d87e4 has them.)
# The router's starts (route.ROUTE_WARM_DIRECT, and the sample start without the rough solve):
# 1. GPU tests: warm tiles started directly from their predecessor's thresholds route as a cold
#    start does (bf16);
# 2. the router alone, 3 rotated rounds, each variant checked against the default: 128k and 32k,
#    structured and random, 25% and 10%;
# 3. the router's passes at 128k, 10% (router_pass_cost.py: solvers capped at 0, 1, 2 passes);
# 4. prefill 128k, random, 25%, Hkv 8, 3 rounds (stop 31's limit cut it).
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_direct 90 tests/kernels/dash/test_dash_attention.py -k "directly_warm and dtype2"
  env $B timeout 190 python3 scripts/bench_router.py --seqlen 128k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 --check-against lean_default --rounds 3 \
      --variants lean_default,lean_sample_exact,lean_sample_direct,lean_cold_direct,lean_sample_exact_direct,lean_default_again \
      --out $OUT/router_128k 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 100 python3 scripts/bench_router.py --seqlen 32k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 --check-against lean_default --rounds 3 \
      --variants lean_default,lean_sample,lean_sample_direct,lean_cold_direct,lean_default_again \
      --out $OUT/router_32k 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 60 python3 scripts/router_pass_cost.py --seqlen 128k --hkv 2,8 --density 0.1 \
      --iters 0,1,2,12 --out $OUT/pass_cost_10 2>&1 | grep -v -i warn | cut -c1-400
  env $B timeout 100 python3 scripts/bench_dash.py --seqlen 128k --hkv 8 --inputs random \
      --densities 0.25 --variants none --rounds 3 \
      --out $OUT/e2e_128k_random 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
