# Issue 3, stop 23 call a (prepared at stop 22). ~8 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop23_a.sh
# Two levers prepared on the CPU at stop 22, tested there and compiled for sm_90, never run:
# 1. The split-ring attention (gluon_split_attend: K and V in rings of their own, each fed by
#    its own producer warp, so that a K slot is requested two steps before its QKᵀ instead of
#    one; ncu at stop 22 put ~7% of the default kernel's consumer samples on K/V data not yet
#    arrived): its GPU tests against attend, then its time beside gluon_ws_attend (the default)
#    in one process, 32k and 128k, Hkv 8 and 2, structured 25%, K/V rings 3/3 and 4/2.
# 2. The router's max pass merged into its first rough step (route.ROUTE_MERGED_MAX, with the
#    rough solve only; a CPU simulation kept the passes after it, so it should save the max
#    pass on coherent inputs): its GPU tests (bf16 included), then the router alone with and
#    without it (and with the rough solve forced on at 32k, where "auto" leaves it off), checked
#    against the first router, structured 25% and 10%, random 25%.
# Whichever is faster becomes the default (interface.gluon_kernel, route.ROUTE_MERGED_MAX);
# then the end-to-end benchmark at 25% and 10% (bench_dash.py --variants "").
source scripts/device_setup.sh
{
  timeout 220 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_split_attend.py \
      tests/kernels/dash/test_dash_attention.py -k "split or merged_max" 2>&1 | tail -6
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 180 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants split --out $OUT 2>&1 | grep -v -i warn | cut -c1-1500
  echo
  mkdir -p $OUT/router
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_router.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25,0.1 --variants lean_separate_max,lean_merged_max,lean_rough,lean_merged_rough --out $OUT/router 2>&1 \
      | grep -v -i warn | cut -c1-600
  PYTHONPATH=scripts:$PYTHONPATH timeout 90 python3 scripts/bench_router.py --seqlen 32k,128k --hkv 8,2 \
      --inputs random --densities 0.25 --variants lean_separate_max,lean_merged_max,lean_rough,lean_merged_rough --out $OUT/router/random 2>&1 \
      | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
