# Issue 3, second device call of stop 15: the lean router's GPU tests (bf16 included), the
# attention with 128-row tiles at 128k, then the backward variants' kernel times
# (profile_backward.py). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_lean_and_backward.sh
source scripts/device_setup.sh
{
  timeout 120 python3 -m pytest -q -rf -x -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py -k lean_router 2>&1 | tail -30
  PYTHONPATH=scripts:$PYTHONPATH timeout 220 python3 scripts/bench_dash.py --seqlen 128k --inputs structured --densities 0.25 \
      --variants rows128 --out $OUT 2>&1 | grep -v -i warn
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/profile_backward.py --out $OUT 2>&1 | grep -v -i warn
} 2>&1 | tee $OUT/log.txt
