# Issue 3, stop 25 call b. ~8.5 min (limits sum to 510 s). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop25_b.sh
# After call a: the router and the bias kernel launch longest first (route.ROUTE_LONGEST_FIRST,
# prior.BIAS_LONGEST_FIRST), and an inference forward whose lists and biases fit
# interface.SYNC_FREE_MAX_FRACTION of the bytes of q, k, v and out when sized for every causal
# pair skips the fetch of the routed count (Hkv 2 to 32k, Hkv 8 to 8k). This call:
# 1. GPU tests of the sync-free forward (fp32 on the GPU) and the bf16 half-precision forwards.
# 2. End to end, structured 25%, 8k/16k/32k, 5 rotated rounds: the default against the fetching
#    forward (interface.SYNC_FREE_MAX_FRACTION=0.0) and FA3 in the same rounds; 32k 10%.
# 3. The time outside the kernels at 32k (scripts/profile_prefill_gaps.py).
# 4. The end-to-end record at 128k, structured 25% and 10%, 3 rounds.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
AGAINST="--rounds-against interface.SYNC_FREE_MAX_FRACTION=0.0"
{
  timeout 90 python3 -m pytest -v -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "sync_free or capacity or non_finite or once_per_version or (dtype2 and half_precision_forward)" \
      > $OUT/tests.txt 2>&1
  echo "tests: $(grep -c PASSED $OUT/tests.txt) passed, $(grep -c FAILED $OUT/tests.txt) failed"
  grep -E "FAILED|[0-9]+ passed" $OUT/tests.txt | tail -5
  echo
  env $B timeout 150 python3 scripts/bench_dash.py --seqlen 32k,16k,8k --hkv 2,8 --inputs structured \
      --densities 0.25 --variants none --rounds 5 $AGAINST --out $OUT/e2e_short 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 60 python3 scripts/bench_dash.py --seqlen 32k --hkv 2,8 --inputs structured \
      --densities 0.1 --variants none --rounds 5 $AGAINST --out $OUT/e2e_32k_10 2>&1 | grep -v -i warn | cut -c1-300
  echo
  env $B timeout 40 python3 scripts/profile_prefill_gaps.py --seqlen 32k --hkv 8,2 --out $OUT/gaps 2>&1 \
      | grep -v -i warn | grep -v "^    "
  echo
  env $B timeout 170 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 3 --out $OUT/e2e_128k 2>&1 | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
