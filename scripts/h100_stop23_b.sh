# Issue 3, stop 23 call b. ~9 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop23_b.sh
# The router's max pass and rough solve on fp8 products (route.ROUTE_ROUGH_FP8, _lean_fp8_solve):
# its GPU tests (bf16 included), then the router alone with the bf16 and fp8 rough solves (and
# the default: no rough solve below 1024 chunks) in one process, each checked against the first
# router; then the whole prefill with it on (the rough solve forced on at 32k too), FA3 timed in
# the same process.
source scripts/device_setup.sh
{
  timeout 200 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "fp8_rough or solver_step_from or rough_solver or merged_max_pass_finds" 2>&1 | tail -6
  echo
  mkdir -p $OUT/router
  PYTHONPATH=scripts:$PYTHONPATH timeout 170 python3 scripts/bench_router.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25,0.1 --variants lean_default,lean_rough_bf16,lean_rough_fp8 --out $OUT/router 2>&1 \
      | grep -v -i warn | grep -v disagreements | cut -c1-400
  PYTHONPATH=scripts:$PYTHONPATH timeout 60 python3 scripts/bench_router.py --seqlen 32k --hkv 8,2 \
      --inputs random --densities 0.25 --variants lean_default,lean_rough_bf16,lean_rough_fp8 --out $OUT/router/random 2>&1 \
      | grep -v -i warn | grep -v disagreements | cut -c1-400
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25,0.1 --variants none --route-setting ROUTE_ROUGH_FP8=True \
      --route-setting ROUTE_ROUGH_SOLVE=True --out $OUT/e2e_fp8 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
