# Issue 3, stop 31 call b. ~9 min (limits sum to 540 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop31_b.sh
# The router's solver started from a 64-chunk sample of each tile's chunks (route.ROUTE_SAMPLE_START;
# a CPU simulation put the solver's passes at 0.5-0.9x today's on structured inputs):
# 1. GPU tests: the sample start routes as a cold start does (bf16 included);
# 2. the router alone, default / sample / default again, 5 rotated rounds, each checked against
#    the default: 128k and 32k, structured and random, 25% and 10%;
# 3. end to end at 32k, structured, 5 rotated rounds against the default (outputs checked).
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
V="--variants lean_default,lean_sample,lean_default_again --check-against lean_default --rounds 5"
{
  gpu_tests test_sample 150 tests/kernels/dash/test_dash_attention.py -k "sample_started"
  env $B timeout 160 python3 scripts/bench_router.py --seqlen 128k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 $V --out $OUT/router_128k 2>&1 | grep -v -i warn | cut -c1-400
  env $B timeout 110 python3 scripts/bench_router.py --seqlen 32k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 $V --out $OUT/router_32k 2>&1 | grep -v -i warn | cut -c1-400
  env $B timeout 120 python3 scripts/bench_dash.py --seqlen 32k --hkv 2,8 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 5 --rounds-against route.ROUTE_SAMPLE_START=True \
      --out $OUT/e2e_32k 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
