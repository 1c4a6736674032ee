# Issue 3, stop 16, the closing device call (~9 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop16_b.sh
# At the stop's defaults (dq kernel's routing rows in the mma layout; the router's rough solver
# steps from 1024 chunks): the tests of those paths (bf16 included) and the float64 backward
# variants, the prefill table (32k and 128k, structured 25% and 10%, both KV-head counts) and
# the training step at 32k against cuDNN.
source scripts/device_setup.sh
{
  timeout 90 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "rough or backward_variants" 2>&1 | tail -4
  PYTHONPATH=scripts:$PYTHONPATH timeout 300 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 --inputs structured \
      --densities 0.25,0.10 --variants none --out $OUT/structured 2>&1 | grep -v -i warn
  timeout 120 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
