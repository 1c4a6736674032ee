# Issue 3, stop 22, call d. ~6 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop22_d.sh
# What call c's time limit cut from the GPU tests (dash_attention's fp32, half-precision and
# gradient tests with the producer-warp Gluon attention as the default; the gradients through
# it), then random (incoherent) inputs end to end at 128k, 25% and 10%, for the record.
source scripts/device_setup.sh
{
  timeout 240 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      tests/kernels/dash/test_gluon_attend.py \
      -k "fp32_forward or half_precision or non_finite or gradients_through or (gradients_match and not variants)" 2>&1 | tail -6
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 128k --hkv 8,2 \
      --inputs random --densities 0.25,0.1 --variants "" --out $OUT 2>&1 | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
