# Issue 3, stop 16, first device call of the new switches (~6 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop16_a.sh
# (Run at dd69e90; the conditional rescale and its variant were removed after this call: slower.)
# 1. GPU tests of the attention's conditional rescale (attend.ATTEND_LAZY_RESCALE), the router's
#    rough solver steps (route.ROUTE_ROUGH_SOLVE) and the routing rows in the mma layout (the dq
#    kernel's default now), bf16 included;
# 2. bench_dash at 32k and 128k, structured 25%, both KV-head counts: each switch's stage time
#    on and off, and both on end to end (checked against the reference first).
source scripts/device_setup.sh
{
  timeout 170 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "rough or lazy or mma_layout" 2>&1 | tail -4
  PYTHONPATH=scripts:$PYTHONPATH timeout 330 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 --inputs structured \
      --densities 0.25 --variants lazy,rough --out $OUT 2>&1 | grep -v -i warn
} 2>&1 | tee $OUT/log.txt
