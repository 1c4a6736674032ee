# Issue 3, stop 24 call b. ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop24_b.sh
# Warm-started router tiles went "auto" after call a (4 tiles a program where the rough solve
# runs, from 1024 chunks; one below). This call:
# 1. the router in 5 rotated rounds where call a did not reach: 128k at 10% (structured and
#    random) and random 25% at Hkv 2, the old default (lean_warm1) against the new one (4 tiles)
#    and 8 tiles; at 32k, the default (one tile) against 4 warm tiles with the rough solve on.
# 2. the end-to-end prefill of the new default against FA3 (3 rotated rounds): 128k structured
#    25% and 10%, random at Hkv 2 (call a ran out of time before them), 32k structured 25%.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  mkdir -p $OUT/router_128k_10 $OUT/router_128k_r25 $OUT/router_32k
  env $B timeout 130 python3 scripts/bench_router.py --seqlen 128k --hkv 8,2 --inputs structured,random \
      --densities 0.1 --rounds 5 --check-against lean_warm1 --variants lean_warm1,lean_default,lean_warm8 \
      --out $OUT/router_128k_10 2>&1 | grep -v -i warn | grep -v disagreements | cut -c1-300
  env $B timeout 50 python3 scripts/bench_router.py --seqlen 128k --hkv 2 --inputs random \
      --densities 0.25 --rounds 5 --check-against lean_warm1 --variants lean_warm1,lean_default,lean_warm8 \
      --out $OUT/router_128k_r25 2>&1 | grep -v -i warn | grep -v disagreements | cut -c1-300
  env $B timeout 50 python3 scripts/bench_router.py --seqlen 32k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 --rounds 5 --check-against lean_default --variants lean_default,lean_rough_warm4,lean_warm4 \
      --out $OUT/router_32k 2>&1 | grep -v -i warn | grep -v disagreements | cut -c1-300
  echo
  env $B timeout 150 python3 scripts/bench_dash.py --seqlen 128k --hkv 8,2 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 3 --out $OUT/e2e_128k 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 70 python3 scripts/bench_dash.py --seqlen 128k --hkv 2 --inputs random \
      --densities 0.25,0.1 --variants none --rounds 3 --out $OUT/e2e_128k_random 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 40 python3 scripts/bench_dash.py --seqlen 32k --hkv 8,2 --inputs structured \
      --densities 0.25 --variants none --rounds 5 --out $OUT/e2e_32k 2>&1 | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
