# Issue 3, stop 32 call b. ~8.5 min (limits sum to 490 s).   Carry the three device wheels.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop32_b.sh
# (A record of what ran: its lean_fallback* variants were removed after it; commit e3c2526 has
# them.)
# After the sample start, exact steps only (route.ROUTE_ROUGH_SOLVE "auto" now off where the
# sample start runs), and a per-row fallback to the previous tile's thresholds where a row's
# sample holds few of its support (route.ROUTE_SAMPLE_FALLBACK, off until timed):
# 1. GPU tests: the fallback (bf16) and the default router's launch settings;
# 2. the router alone at 128k, 3 rotated rounds, each variant checked against the default;
# 3. prefill 128k, structured, 25% and 10%, 3 rotated rounds, against stop 31's default (the
#    rough solve after the sample's start).
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_fallback 80 tests/kernels/dash/test_dash_attention.py -k "(sample_fallback and dtype2) or default_router_warm"
  env $B timeout 180 python3 scripts/bench_router.py --seqlen 128k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 --check-against lean_default --rounds 3 \
      --variants lean_default,lean_fallback2,lean_fallback3,lean_fallback5,lean_sample_rough,lean_default_again \
      --out $OUT/router_128k 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 230 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 3 --rounds-against route.ROUTE_ROUGH_SOLVE=True \
      --out $OUT/e2e_128k 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
