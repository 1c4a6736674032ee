# Issue 3, stop 24 call a (prepared at stop 23). ~9 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop24_a.sh
# Stop 23 ended without device time for these:
# 1. prior.LIST_BLOCK 64 (stop 23 call e: the stored biases 23-35% faster at 128k, checked there
#    against 32's output): test_prior.py on the GPU (bf16 included), and 64 against 128 (one CTA
#    an SM at 180 KB of shared memory) in rotated rounds.
# 2. The end-to-end record of this code (ROUTE_MERGED_MAX on, LIST_BLOCK 64): 32k and 128k,
#    structured and random, 25% and 10%, FA3 in the same process, and the prefill and FA3 also
#    timed together in 3 rotated rounds (bench_dash.py --rounds: the speedup from their medians).
# 3. Earlier verdicts taken from back-to-back timings at 128k, where the same router kernel
#    drifts by up to 15% under the power cap (stop 23): warm-started router tiles
#    (ROUTE_WARM_TILES, off since stop 18) retimed in rotated rounds, structured and random.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
{
  timeout 100 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_prior.py 2>&1 | tail -3
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 60 python3 scripts/bench_listed_bias.py --seqlen 128k --hkv 8,2 \
      --densities 0.25,0.1 --blocks 64,128 --out $OUT/listed_bias 2>&1 | grep -v -i warn | cut -c1-400
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 260 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured,random --densities 0.25,0.1 --variants none --rounds 3 --out $OUT/e2e 2>&1 \
      | grep -v -i warn | cut -c1-300
  echo
  mkdir -p $OUT/router_warm
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_router.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured,random --densities 0.25 --rounds 5 --check-against lean_default \
      --variants lean_default,lean_default_again,lean_warm2,lean_warm4 --out $OUT/router_warm 2>&1 \
      | grep -v -i warn | grep -v disagreements | cut -c1-300
} 2>&1 | tee $OUT/log.txt
