# Issue 3, first device call of the next stop (prepared at stop 18). ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next.sh
# 1. Warm-started router tiles after stop 18's review (start only from a previous threshold above
#    max - 1; the warm pass without the smallest-|d| statistic): their GPU tests (bf16 included),
#    then the router alone, structured and random, 25% and 10%, against the lean default.
# 2. 128-row attention tiles at Hkv 2 (a tile spans 8 tokens instead of 4), last timed at stop 15
#    before TMA loads and the diagonal-last order: the prefill with and without them.
source scripts/device_setup.sh
{
  timeout 100 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "warm_started" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_router.py --seqlen 32k,128k --hkv 2,8 \
      --inputs structured,random --densities 0.25,0.10 --variants lean_default,lean_warm2,lean_warm4 --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-300
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 2 \
      --inputs structured --densities 0.25 --variants rows128 --out $OUT 2>&1 | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
# 3. What a router pass costs (stop 19): solvers capped at k passes, against the product floor.
{
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/router_pass_cost.py --seqlen 128k --hkv 2,8 \
      --out $OUT 2>&1 | grep -v -i warn | cut -c1-900
} 2>&1 | tee -a $OUT/log.txt
