# DashAttention on the lent H100: the kernel tests at GPU scale (bf16 included), then the
# prefill benchmark. Output under $OUT (bench_dash.json, log.txt).
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_dash.sh [bench_dash.py args]
source scripts/device_setup.sh
{
  python3 -m pytest -q -x tests/kernels/dash tests/kernels/reference/test_dash.py 2>&1 | tail -5
  python3 scripts/bench_dash.py --out $OUT "$@" 2>&1 | grep -v -i warning
} | tee $OUT/log.txt
