# Issue 3, stop 25 call a (prepared at stop 24). ~9.5 min (limits sum to 530 s). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop25_a.sh
# Stop 24 ended with device time spent before these were timed:
# 1. GPU tests, bf16 (the CPU interpreter checks fp32/fp16): test_prior.py and the router's
#    warm / rough / adaptive tests (stop 24's runs of the whole files were cut by their limits).
# 2. The stored-bias kernel launched longest first (prior.BIAS_LONGEST_FIRST, off) against the
#    default order, 128k, 5 rotated rounds.
# 3. The router: adaptive warm tiles (route.ROUTE_ADAPTIVE_WARM, off: a program's tiles start
#    cold again after a warm tile that saved no solver step) and longest-first launch order
#    (route.ROUTE_LONGEST_FIRST, off) against the default (4 warm tiles from 1024 chunks, else
#    1) and one tile a program, 5 rotated rounds, 128k and 32k, structured and random, 25% and
#    10%. Stop 24 found 4 warm tiles 0.5-1.3 ms slower at 128k, 10%, and on random 25% at Hkv 2:
#    a 4x longer last program (the launch ends on the longest tiles) or warm starts that save
#    nothing; these two variants take each away.
# 4. The bias kernel writing the chunk lists itself (prior.BIAS_EXPANDS_LISTS, off: one launch
#    fewer after the forward's synchronization): the time outside the kernels at 32k, off and on
#    (scripts/profile_prefill_gaps.py; stop 24: 0.38 / 0.27 ms a call at Hkv 8 / 2).
# Then: flip what wins, and run the end-to-end record (bench_dash.py --rounds 3, 32k and 128k;
# --route-setting prior.NAME=VALUE sets the others' flags).
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  # (dtype2: the bf16 cases; -v into files: a run cut by its limit still shows which cases passed)
  timeout 70 python3 -m pytest -v -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_prior.py \
      -k "dtype2 or writing_the or longest_first" > $OUT/test_prior.txt 2>&1
  timeout 50 python3 -m pytest -v -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "dtype2 and (warm or rough)" > $OUT/test_router.txt 2>&1
  for f in $OUT/test_prior.txt $OUT/test_router.txt; do
    echo "$f: $(grep -c PASSED $f) passed, $(grep -c FAILED $f) failed"; grep -E "FAILED|[0-9]+ passed" $f | tail -5
  done
  echo
  env $B timeout 60 python3 scripts/bench_listed_bias.py --seqlen 128k --hkv 8,2 --densities 0.25,0.1 --blocks 64 \
      --longest-first --out $OUT/listed_bias 2>&1 | grep -v -i warn | cut -c1-400
  echo
  mkdir -p $OUT/router_128k $OUT/router_32k
  env $B timeout 220 python3 scripts/bench_router.py --seqlen 128k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 --rounds 5 --check-against lean_warm1 \
      --variants lean_warm1,lean_default,lean_adaptive4,lean_longest,lean_adaptive4_longest \
      --out $OUT/router_128k 2>&1 | grep -v -i warn | grep -v disagreements | cut -c1-400
  env $B timeout 50 python3 scripts/bench_router.py --seqlen 32k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 --rounds 5 --check-against lean_default \
      --variants lean_default,lean_warm1_longest,lean_adaptive4,lean_adaptive4_longest \
      --out $OUT/router_32k 2>&1 | grep -v -i warn | grep -v disagreements | cut -c1-400
  echo
  for fused in False True; do
    env $B timeout 40 python3 scripts/profile_prefill_gaps.py --seqlen 32k --hkv 8,2 \
        --setting prior.BIAS_EXPANDS_LISTS=$fused --out $OUT/gaps_expand_$fused 2>&1 | grep -v -i warn | grep -v "^    "
  done
} 2>&1 | tee $OUT/log.txt
