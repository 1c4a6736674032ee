# DashAttention on the lent H100: the kernel tests at GPU scale (bf16 included), the prefill
# benchmark, then the fwd+bwd and decode benchmark. Output under $OUT (bench_dash*.json, log.txt).
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_dash.sh [bench_dash.py args]
#   PHASES=tests,bwd_decode bash scripts/h100_dash.sh     (a subset: tests, prefill, bwd_decode)
source scripts/device_setup.sh
PHASES=${PHASES:-tests,prefill,bwd_decode}
{
  [[ $PHASES == *tests* ]] && python3 -m pytest -q -x tests/kernels/dash tests/kernels/reference/test_dash.py 2>&1 | tail -5
  [[ $PHASES == *prefill* ]] && python3 scripts/bench_dash.py --out $OUT "$@" 2>&1 | grep -v -i warning
  [[ $PHASES == *bwd_decode* ]] && python3 scripts/bench_dash_bwd_decode.py --out $OUT 2>&1 | grep -v -i warning
} | tee $OUT/log.txt
