# Issue 3, stop 28, call c. ~8 min (limits sum to 440 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop28_c.sh
# The dk/dv backward as a Gluon kernel (gluon_bwd_kv.py, backward.BWD_GLUON_KV: a producer warp
# bringing each tile's q and dO by TMA, one consumer warpgroup in the transposed order, the
# forward's stored biases): its GPU tests (against the Triton dk/dv kernel and the fp64
# reference), its kernels' times at 32k, 25% against the default in one process, then the
# training step at 32k with it.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_gluon_bwd_kv 150 tests/kernels/dash/test_gluon_bwd_kv.py
  mkdir -p $OUT/bwd $OUT/train_gluonkv
  env $B timeout 150 python3 scripts/profile_backward.py --shapes 2 --variants default,gluonkv --out $OUT/bwd 2>&1 \
      | grep -v -i warn | cut -c1-500
  env $B timeout 100 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --backward-setting BWD_GLUON_KV=True --out $OUT/train_gluonkv 2>&1 | grep -v -i warn | cut -c1-700
} 2>&1 | tee $OUT/log.txt
