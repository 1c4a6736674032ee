# Issue 3, stop 17, fifth device call. ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop17_c.sh
# 1. GPU tests: the dk/dv kernel's routing dot on the tensor cores at G=16 (fp16 and bf16; the
#    last call's time limit cut them), now on there by default (BWD_KV_ROUTE_MMA = "auto").
# 2. bench_dash --variants diagmma: the attention with its routing rows in the mma layout and the
#    diagonal chunk last at 2 and 3 stages (without the prior, the diagonal last at 3 stages won;
#    with it, the per-chunk routing dot may be what kept a single CTA an SM from keeping up).
# 3. The training step at 32k, 25%, against cuDNN, at the new defaults.
source scripts/device_setup.sh
{
  timeout 90 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "kv_kernel_routing_dot and 16-1" 2>&1 | tail -4
  PYTHONPATH=scripts:$PYTHONPATH timeout 230 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 --inputs structured \
      --densities 0.25 --variants diagmma --out $OUT 2>&1 | grep -v -i warn
  timeout 120 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
