# Issue 3, stop 20, seventh device call (~5 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop20_g.sh
# The forward's and backward's GPU tests with the stored biases the default (the TMA comparison
# now with the biases recomputed in both, as it was written for), then at 128k, 25%, in one
# process: the attention over fp16 stored biases (the default) against the same biases in fp32
# and against recomputing them.
source scripts/device_setup.sh
{
  timeout 230 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "tma_path or gradients or backward_variants or unsupported or half_precision_forward" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 \
      --inputs structured --densities 0.25 --variants storedbias --out $OUT 2>&1 | grep -v -i warn | cut -c1-900
} 2>&1 | tee $OUT/log.txt
