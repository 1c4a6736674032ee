# Issue 3, second device call of the next stop (prepared at stop 17). ~4 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next_backward.sh
# The training step at 32k, 25%, against cuDNN, at the defaults (after h100_next.sh decides
# BWD_KV_PARTS), and the kernels' registers and spills as launched.
source scripts/device_setup.sh
{
  timeout 120 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-300
  PYTHONPATH=scripts:$PYTHONPATH timeout 60 python3 scripts/kernel_resources.py --out $OUT 2>&1 | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
