# Issue 3, stop 21 call j. ~4 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop21_j.sh
# FA3's ping-pong for the Gluon attention (kernels/dash/gluon_pingpong_attend.py, compiled only):
# two adjacent tiles a CTA, one warpgroup each, taking turns to issue their products so one's
# softmax runs under the other's wgmmas. Its GPU tests against attend, then its time beside
# attend and gluon_attend in the same process (32k and 128k, structured 25%).
source scripts/device_setup.sh
{
  timeout 150 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_attend.py \
      -k "pingpong" 2>&1 | tail -6
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants pingpong --out $OUT 2>&1 | grep -v -i warn | cut -c1-1500
} 2>&1 | tee $OUT/log.txt
