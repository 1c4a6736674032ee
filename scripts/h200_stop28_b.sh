# Issue 3, stop 28, call b. ~8 min (limits sum to 470 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop28_b.sh
# The prefill and decode rows on the H200 (the lent machine changed from an H100 at this
# stop), with the code of stops 25-27 (the forward and decode are unchanged since):
# 1. prefill 128k at 25% and 10%, 3 rotated rounds (as stop 25's 150cc1f_b);
# 2. prefill 32k at 25% and 10%, 7 rounds (as stop 25's 015c513_e);
# 3. decode 128k, B = 1 and 8, the decoded row at 10%, cold cache copies (as stop 26's abc0b30_g).
# SM clock, power and throttle reasons sampled every 0.5 s into smi.csv.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem,power.limit,driver_version --format=csv
  env $B timeout 200 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 3 --out $OUT/e2e_128k 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 120 python3 scripts/bench_dash.py --seqlen 32k --hkv 2,8 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 7 --out $OUT/e2e_32k 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 150 python3 scripts/bench_dash_bwd_decode.py --skip train --decode-len 128k --hkv 2,8 \
      --out $OUT/decode 2>&1 | grep -v -i warn | cut -c1-1000
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
