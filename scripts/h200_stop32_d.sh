# Issue 3, stop 32 call d. ~5 min (limits sum to 290 s).   Carry the three device wheels.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop32_d.sh
# The final code once more, in a second process (call b timed the 128k rows at e3c2526, where the
# removed per-row fallback was compiled out):
# 1. GPU tests: the router's other starts in bf16 (warm tiles, rough steps, launch order);
# 2. prefill 128k, structured, 25% and 10%, 3 rounds, against stop 31's default.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_router 60 tests/kernels/dash/test_dash_attention.py -k "dtype2 and (warm_started or rough_solver or launch_order)"
  env $B timeout 230 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 3 --rounds-against route.ROUTE_ROUGH_SOLVE=True \
      --out $OUT/e2e_128k 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
