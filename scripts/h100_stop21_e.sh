# Issue 3, stop 21 call e. ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop21_e.sh
# Call d: the warp-specialized pair kernel loads 0.68x (Hkv 8) / 0.62x (Hkv 2) of the K/V bytes
# and is no faster (86-89 vs 83.8 ms; 48.5 vs 50.2 at 128k): the bytes do not limit. The
# single-warpgroup Gluon loop issued ~520 instructions a warp per entry against 512 tensor-core
# cycles, without overlap. This call: that loop at 382 (the listed chunks' scale, bias and max
# folded into one FMA before the ex2, the own chunk's masked step peeled off the loop), tested
# against attend and timed as in calls b and c.
source scripts/device_setup.sh
{
  timeout 330 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_attend.py 2>&1 \
      | tail -8
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 220 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants gluon --out $OUT 2>&1 | grep -v -i warn | cut -c1-2500
} 2>&1 | tee $OUT/log.txt
