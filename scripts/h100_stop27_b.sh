# Issue 3, stop 27, call b. ~8 min (limits sum to 450 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop27_b.sh
# The fused backward (backward.BWD_FUSED_DQ: dq's attention share and the betas formed in the
# dk/dv kernel, the dq kernel doing only the prior's part): its GPU tests (fp32 on tf32
# products, bf16/fp16, the block-sparse path, the fallback), then its kernels' times at 32k, 25%
# against the unfused default (by TMA reduce and by atomics), then the training step with it.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_fused 150 tests/kernels/dash/test_dash_attention.py tests/kernels/dash/test_block_sparse.py \
      -k "fused"
  mkdir -p $OUT/bwd $OUT/train
  env $B timeout 150 python3 scripts/profile_backward.py --shapes 2 \
      --variants unfused,fused,fused+atomics --out $OUT/bwd 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 150 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --backward-setting BWD_FUSED_DQ=True --out $OUT/train 2>&1 | grep -v -i warn | cut -c1-500
} 2>&1 | tee $OUT/log.txt
