# Issue 3, stop 18, last device call (what the budget allows, ~4 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop18_g.sh
# The lean router with warm-started tiles (route.ROUTE_WARM_TILES: a program routes 2 / 4 consecutive
# tiles, each after the first starting its solver from the previous tile's thresholds), checked
# against the first router (thresholds, counts, unions) before timing, structured and random, 25%.
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_router.py --seqlen 32k,128k --hkv 2,8 \
      --inputs structured,random --densities 0.25 --variants lean_default,lean_warm2,lean_warm4 --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
