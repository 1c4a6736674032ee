# Issue 3, stop 18, fifth device call (~8 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop18_e.sh
# The dq kernel's summary-gradient atomics were `atom.global.gpu.acq_rel` (tl.atomic_add's default
# order); backward.BWD_RELAXED_ATOMICS makes them relaxed `red`s. Tests on the GPU, the backward's
# kernels with and without it (both summary-gradient paths), then the training step at 32k, 25%,
# at the defaults and with the summary gradient by relaxed atomics at every G.
source scripts/device_setup.sh
{
  timeout 100 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "relaxed or backward_variants" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 230 python3 scripts/profile_backward.py --shapes 3 \
      --variants atomics,in-kv,atomics+relaxed,atomics+relaxed+kvmma0 --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
  echo
  timeout 100 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k --out $OUT/train_default 2>&1 \
      | grep -v -i warn | cut -c1-300
  timeout 100 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k --out $OUT/train_relaxed \
      --backward-setting BWD_RELAXED_ATOMICS=True --backward-setting SUMMARY_IN_KV=False 2>&1 | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
