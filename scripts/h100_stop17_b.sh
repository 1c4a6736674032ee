# Issue 3, stop 17, fourth device call. ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop17_b.sh
# 1. GPU tests: the dk/dv kernel's routing dot on the tensor cores (backward.BWD_KV_ROUTE_MMA;
#    bf16 included), the decode file at the new defaults (128 spans, sliced combine).
# 2. profile_backward.py: the backward's kernels at 32k and 8k with and without that switch.
# 3. The decode step at the new defaults against the old (64 spans, one program a row).
# 4. The training step (forward + backward) at 32k, 25%, against cuDNN, at the defaults.
source scripts/device_setup.sh
{
  timeout 100 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "kv_kernel_routing_dot" 2>&1 | tail -4
  timeout 80 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_decode.py 2>&1 | tail -4
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/profile_backward.py --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
  PYTHONPATH=scripts:$PYTHONPATH timeout 80 python3 scripts/profile_decode.py --variants default,split64 --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-300
  timeout 120 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
