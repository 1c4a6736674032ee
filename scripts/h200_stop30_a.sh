# Issue 3, stop 30, call a. ~8 min (limits sum to 560 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop30_a.sh
# Decode with two fewer launches: the combine's merge done by the attend programs that finish
# last (decode_kernels.MERGE_VALUES), the thresholds by the scores kernel's last program a
# (batch, KV head) (THRESHOLD_IN_SCORES_VALUES); their arrival counters live in the cache.
# 1. GPU tests of the decode file (both fusions against the separate kernels, the prefill rows).
# 2. profile_decode.py: each fusion alone, both, neither (stop 29's step) and the merge's group
#    size, at 128k, 10%, Hkv 8 and 2, B = 1 and 8 (cold graph replays, FA3 in the same process).
# 3. The decode rows (bench_dash_bwd_decode.py, FA3 and cuDNN in the same process).
# SM clock, power and throttle reasons sampled every 0.5 s into smi.csv.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_decode 70 tests/kernels/dash/test_decode.py
  mkdir -p $OUT/profile $OUT/decode
  env $B timeout 300 python3 scripts/profile_decode.py --hkv 8,2 --batch 1,8 --lengths 128k \
      --variants default,stop29,combine_kernel,threshold_kernel,merge32,merge128 \
      --out $OUT/profile 2>&1 | grep -v -i warn | short_json
  env $B timeout 180 python3 scripts/bench_dash_bwd_decode.py --skip train --decode-len 128k --hkv 2,8 \
      --out $OUT/decode 2>&1 | grep -v -i warn | cut -c1-1000
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
