# Issue 3, stop 19, third device call (~6 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop19_b.sh
# 1. The lean router with token-major rows (a token's heads adjacent, so the final pass's mean
#    over heads stays within a warp): its GPU test (bf16 included), then the router alone
#    against head-major rows, structured and random, 25%.
# 2. What a router pass costs (solvers capped at k passes; timed after a warm call now).
source scripts/device_setup.sh
{
  timeout 100 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "token_major" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_router.py --seqlen 32k,128k --hkv 2,8 \
      --inputs structured,random --densities 0.25 --variants lean_head_major,lean_token_major --out $OUT 2>&1 \
      | grep -v -i warn | grep -v "^  disagreements" | cut -c1-300
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/router_pass_cost.py --seqlen 128k --hkv 2,8 \
      --iters 0,1,2,4 --out $OUT 2>&1 | grep -v -i warn | cut -c1-900
} 2>&1 | tee $OUT/log.txt
