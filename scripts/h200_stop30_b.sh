# Issue 3, stop 30, call b. ~5 min (limits sum to 330 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop30_b.sh
# Call a: the merge in the attend and the thresholds in the scores kernel were slower (removed).
# Here the attend's loop over part of a chunk a step (decode_kernels.ATTEND_KEYS): its K/V buffers
# halve (71.7 -> 37.9 KB at 32 keys, 5 stages), so six programs share an SM instead of three.
# 1. GPU tests of the decode file (the step at 32 and 16 keys a step against whole chunks).
# 2. profile_decode.py at 128k, 10%, Hkv 8 and 2, B = 1 and 8: keys 32 at 5 and 7 stages, keys 16
#    at 9, keys 32 with 2 warps, keys 32 with 2112 programs, against the default and 3 stages.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_decode 120 tests/kernels/dash/test_decode.py
  mkdir -p $OUT/profile
  env $B timeout 210 python3 scripts/profile_decode.py --hkv 8,2 --batch 1,8 --lengths 128k \
      --variants default,keys32,keys32_s7,keys16_s9,keys32_w2,keys32_p2112,stages3 \
      --out $OUT/profile 2>&1 | grep -v -i warn | short_json
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
