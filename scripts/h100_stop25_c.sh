# Issue 3, stop 25 call c. ~6 min (limits sum to 350 s). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop25_c.sh
# After call b: the sync-free forward's share raised to 0.12 (Hkv 8 to 16k). This call:
# 1. GPU tests with this stop's defaults (longest-first router and biases, the sync-free
#    forward): the bf16 cases of the forward and router tests, the launch-order and sync-free
#    tests, test_prior.py's bf16 and longest-first cases.
# 2. Hkv 8, 16k, structured 25%: sync-free against fetching, 5 rounds.
# 3. Random inputs (reported): 128k 25% both Hkv (3 rounds), 32k 25% and 10% (5 rounds).
# 4. 32k structured 25% again in 7 rounds (the 32k rows drift between processes).
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
AGAINST="--rounds-against interface.SYNC_FREE_MAX_FRACTION=0.0"
{
  timeout 60 python3 -m pytest -v -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "dtype2 or launch_order or sync_free or capacity" > $OUT/test_dash.txt 2>&1
  timeout 40 python3 -m pytest -v -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_prior.py \
      -k "dtype2 or longest" > $OUT/test_prior.txt 2>&1
  for f in $OUT/test_dash.txt $OUT/test_prior.txt; do
    echo "$f: $(grep -c PASSED $f) passed, $(grep -c FAILED $f) failed"; grep -E "FAILED|[0-9]+ passed" $f | tail -5
  done
  echo
  env $B timeout 30 python3 scripts/bench_dash.py --seqlen 16k --hkv 8 --inputs structured \
      --densities 0.25 --variants none --rounds 5 $AGAINST --out $OUT/e2e_16k 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 110 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs random \
      --densities 0.25 --variants none --rounds 3 --out $OUT/e2e_128k_random 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 60 python3 scripts/bench_dash.py --seqlen 32k --hkv 2,8 --inputs random \
      --densities 0.25,0.1 --variants none --rounds 5 $AGAINST --out $OUT/e2e_32k_random 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 50 python3 scripts/bench_dash.py --seqlen 32k --hkv 2,8 --inputs structured \
      --densities 0.25 --variants none --rounds 7 --out $OUT/e2e_32k 2>&1 | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
