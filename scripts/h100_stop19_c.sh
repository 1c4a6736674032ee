# Issue 3, stop 19, fourth device call (~6 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop19_c.sh
# 1. The lean router's final pass on transposed scores (ROUTE_FINAL_TRANSPOSED): its GPU test
#    (bf16 included), then the router alone against the row-major pass, structured and random.
# 2. The prefill end to end with it on, against FA3 in the same process (structured, 25%, 10%).
source scripts/device_setup.sh
{
  timeout 110 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "transposed_final" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 170 python3 scripts/bench_router.py --seqlen 32k,128k --hkv 2,8 \
      --inputs structured,random --densities 0.25 --variants lean_final_rows,lean_final_t --out $OUT 2>&1 \
      | grep -v -i warn | grep -v "^  disagreements" | cut -c1-300
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 170 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 2,8 \
      --inputs structured --densities 0.25,0.10 --variants none --route-setting ROUTE_FINAL_TRANSPOSED=True \
      --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
