# Issue 3, stop 28, call d. ~7.5 min (limits sum to 440 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop28_d.sh
# 1. The dq backward as a Gluon kernel (gluon_bwd_q.py, backward.BWD_GLUON_Q): its GPU tests
#    (against the Triton dq kernel and the fp64 reference).
# 2. The half-precision gradient tests with the Gluon dk/dv kernel now the default.
# 3. The backward's kernels at 32k, 25% (Hkv 8 and 2): default (Gluon dk/dv), with the Gluon dq
#    kernel at 2 and 3 slots; then the training step at 32k with it.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_gluon_bwd_q 170 tests/kernels/dash/test_gluon_bwd_q.py
  gpu_tests test_half_grads 60 tests/kernels/dash/test_dash_attention.py -k "half_precision_gradients"
  mkdir -p $OUT/bwd $OUT/train_gluonq
  env $B timeout 130 python3 scripts/profile_backward.py --shapes 2 --variants default,gluonq,gluonq3 \
      --out $OUT/bwd 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 80 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --backward-setting BWD_GLUON_Q=True --out $OUT/train_gluonq 2>&1 | grep -v -i warn | cut -c1-700
} 2>&1 | tee $OUT/log.txt
