# Issue 3, stop 25 call e. ~2.5 min (limits sum to 150 s). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop25_e.sh
# After call d: warm-started router tiles at every length (route.ROUTE_WARM_TILES = 4; before,
# 4 from 1024 chunks and 1 below). This call: the bf16 warm-tile router tests, and 32k structured
# end to end in a second process, 7 rotated rounds, against one tile a program (the old 32k
# default).
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  timeout 40 python3 -m pytest -v -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "dtype2 and warm" > $OUT/tests.txt 2>&1
  echo "tests: $(grep -c PASSED $OUT/tests.txt) passed, $(grep -c FAILED $OUT/tests.txt) failed"
  env $B timeout 110 python3 scripts/bench_dash.py --seqlen 32k --hkv 2,8 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 7 --rounds-against route.ROUTE_WARM_TILES=1 \
      --out $OUT/e2e_32k 2>&1 | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
