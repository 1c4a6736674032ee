# Issue 3, stop 28, call e. ~6.5 min (limits sum to 370 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop28_e.sh
# The final code: both Gluon backward kernels on by default, dq written in q's dtype by the Gluon
# kernel, delta by one Triton pass (backward.row_dots).
# 1. GPU tests: the Gluon dq file, the Gluon dk/dv file's fp64 check, row_dots.
# 2. The training step at 32k, 25% (the row, cuDNN in the same process).
# 3. The backward's kernels at 8k and the Pareto model's shape (B=4, 4/1 heads, d=64, 8k):
#    default against the Triton dq kernel (no regression where launches weigh more).
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_gluon_bwd_q 140 tests/kernels/dash/test_gluon_bwd_q.py
  gpu_tests test_gluon_bwd_kv 50 tests/kernels/dash/test_gluon_bwd_kv.py tests/kernels/dash/test_row_dots.py -k "float64 or row_dots"
  mkdir -p $OUT/train $OUT/bwd
  env $B timeout 80 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --out $OUT/train 2>&1 | grep -v -i warn | cut -c1-700
  env $B timeout 100 python3 scripts/profile_backward.py --skip 2 --variants default,tritonq \
      --out $OUT/bwd 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
