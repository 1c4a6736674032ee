# Issue 3, stop 21 call i. ~5 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop21_i.sh
# FA4's lazy rescale in the Gluon attention (gluon_attend(lazy=True)): a row's running max moves
# only when it grows by more than 8 (base 2), and the accumulator's 64 FMULs a warp run only in
# steps where some row of the warpgroup moved (a flag reduced across the warpgroup). Its GPU
# tests against attend (and dash_attention's), then its time beside the default loop.
source scripts/device_setup.sh
{
  timeout 200 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_attend.py \
      -k "lazy or dash_attention" 2>&1 | tail -6
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants gluon --out $OUT 2>&1 | grep -v -i warn | cut -c1-2500
} 2>&1 | tee $OUT/log.txt
