# Issue 3, stop 33 call a (prepared at stop 32 as h200_next.sh). ~7 min (limits sum to 400 s).   Carry the three
# device wheels (.whl/fa3_fwd-..., entmax, tabulate).
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop33_a.sh
# The router's sample of 128 or 256 chunks (route.ROUTE_SAMPLE_CHUNKS; a CPU simulation,
# stop32/cpu_simulation/: a tile's exact passes 1.54 -> 1.06 / 1.04 at 128k, structured 10%;
# compile_check: the spill stack grows by ~300 B a thread at 128):
# 1. GPU tests: the larger sample routes as a cold start does; the sample start in bf16;
# 2. the router alone at 128k and 64k, 3 rotated rounds, checked against the default;
# 3. prefill 128k, structured, 10% and 25%, 3 rounds, against the 64-chunk sample.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_sample 70 tests/kernels/dash/test_dash_attention.py -k "larger_sample or (sample_started and dtype2)"
  env $B timeout 150 python3 scripts/bench_router.py --seqlen 128k,64k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 --check-against lean_default --rounds 3 \
      --variants lean_default,lean_sample128,lean_sample256,lean_default_again \
      --out $OUT/router 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 180 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs structured \
      --densities 0.1,0.25 --variants none --rounds 3 --rounds-against route.ROUTE_SAMPLE_CHUNKS=128 \
      --out $OUT/e2e_128k 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
