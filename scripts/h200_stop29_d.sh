# Issue 3, stop 29, call d. ~3 min (limit 170 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop29_d.sh
# The decode rows with the attend's states stored for the G real rows only (call b):
# 128k, B = 1 and 8, the decoded row at 10%, cold cache copies, FA3 and cuDNN in the same process
# (as stop 28's call b). Calls b and c put Hkv 8, B = 1 at 3.85-4.06x of FA3 (profile_decode.py).
# SM clock, power and throttle reasons sampled every 0.5 s into smi.csv.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  env $B timeout 170 python3 scripts/bench_dash_bwd_decode.py --skip train --decode-len 128k --hkv 2,8 \
      --out $OUT/decode 2>&1 | grep -v -i warn | cut -c1-1000
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
