# Issue 3, stop 27, call c. ~7 min (limits sum to 420 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop27_c.sh
# The dq kernel's entmax JVP terms deferred to its second pass (backward.BWD_Q_DEFERRED_TERMS:
# one summary atomic and one rank-1 update of dq a listed chunk instead of two): its GPU tests,
# its kernels' times at 32k, 25% against the default in one process (two rounds), then the
# training step at 32k with it and at the default.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_deferred 90 tests/kernels/dash/test_dash_attention.py -k "deferred"
  mkdir -p $OUT/bwd $OUT/train_deferred $OUT/train_default
  env $B timeout 120 python3 scripts/profile_backward.py --shapes 2 \
      --variants atomics+relaxed,deferred --out $OUT/bwd 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 100 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --backward-setting BWD_Q_DEFERRED_TERMS=True --out $OUT/train_deferred 2>&1 | grep -v -i warn | cut -c1-700
  env $B timeout 100 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --out $OUT/train_default 2>&1 | grep -v -i warn | cut -c1-700
} 2>&1 | tee $OUT/log.txt
