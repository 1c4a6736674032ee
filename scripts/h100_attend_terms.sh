# Issue 3, fifth device call of stop 15: the attention's routing scores on tensor cores (the
# summaries' bf16 terms) checked (the dash kernel tests, bf16 included) and timed against the
# fp32 dot, inside the prefill benchmark at 32k and 128k (lean router, blocks of 64). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_attend_terms.sh
source scripts/device_setup.sh
{
  timeout 270 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py 2>&1 | tail -6
  PYTHONPATH=scripts:$PYTHONPATH timeout 260 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 --inputs structured \
      --densities 0.25,0.10 --variants terms --out $OUT 2>&1 | grep -v -i warn
} 2>&1 | tee $OUT/log.txt
