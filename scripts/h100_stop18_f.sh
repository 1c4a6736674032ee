# Issue 3, stop 18, last device call (~4 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop18_f.sh
# The new backward defaults (relaxed summary-gradient atomics at every G; the dk/dv kernel's
# tensor-core routing dot only where G > 8): the gradient tests on the GPU, then the training step
# at 8k and 32k, 25%, against cuDNN.
source scripts/device_setup.sh
{
  timeout 150 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "gradients or backward_variants or relaxed or routing_dot" 2>&1 | tail -4
  echo
  timeout 150 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 8k,32k --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-420
} 2>&1 | tee $OUT/log.txt
