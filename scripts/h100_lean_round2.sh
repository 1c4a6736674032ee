# Issue 3, third device call of stop 15: the lean router with a one-product max pass, checked
# (its GPU tests) and timed against the first router and launch variants at 128k; the GPU test
# that autocast training runs the kernels; the training step against cuDNN. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_lean_round2.sh
source scripts/device_setup.sh
{
  timeout 100 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py -k lean_router 2>&1 | tail -3
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_router.py --seqlen 128k --hkv 8,2 --densities 0.25 \
      --variants first_w4_s3,lean_w4_s2,lean_w4_s3,lean_r64_w4_s2,lean_r64_w4_s3,lean_cb64_w4_s2,lean_cb64_w8_s2 --out $OUT 2>&1 | grep -v -i warn
  timeout 100 python3 -m pytest -q -p no:cacheprovider -p no:warnings tests/models/test_model_attention_gpu.py 2>&1 | tail -3
  timeout 150 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 8k,32k --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
