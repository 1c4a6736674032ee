# Issue 3, stop 32 call c. ~8 min (limits sum to 470 s).   Carry the three device wheels.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop32_c.sh
# The final code (from 1024 chunks the sample start, then exact steps only):
# 1. GPU tests: the sample start (bf16) and the default router's launch settings;
# 2. the router alone at 64k (1024 chunks, where "auto" turns the sample start on), 3 rounds;
# 3. prefill 128k, random, 25%, 3 rounds, against stop 31's default (the rough solve after the
#    sample's start);
# 4. prefill 64k, structured, 25% and 10%, 3 rounds, against the sample start off.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_sample 70 tests/kernels/dash/test_dash_attention.py -k "(sample_started and dtype2) or default_router_warm"
  env $B timeout 90 python3 scripts/bench_router.py --seqlen 64k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 --check-against lean_default --rounds 3 \
      --variants lean_default,lean_no_sample,lean_sample_rough,lean_default_again \
      --out $OUT/router_64k 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 180 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs random \
      --densities 0.25 --variants none --rounds 3 --rounds-against route.ROUTE_ROUGH_SOLVE=True \
      --out $OUT/e2e_128k_random 2>&1 | grep -v -i warn | cut -c1-400
  env $B timeout 130 python3 scripts/bench_dash.py --seqlen 64k --hkv 2,8 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 3 --rounds-against route.ROUTE_SAMPLE_START=False \
      --out $OUT/e2e_64k 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
