# Issue 3, stop 30, call c. ~3.5 min (limits sum to 250 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop30_c.sh
# The decode attend's launch order (decode_kernels.ATTEND_HEADS_FIRST): at Hkv 8 one KV head routes
# ~4x the chunks of the others (stop26/cpu_span_counts.txt), and its spans are launched together;
# heads first spreads them over the waves. And the combine over 16 or 64 head dims a program.
# 1. GPU tests of the decode file. 2. profile_decode.py at 128k, 10%, Hkv 8 and 2, B = 1 and 8.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_decode 80 tests/kernels/dash/test_decode.py
  mkdir -p $OUT/profile
  env $B timeout 170 python3 scripts/profile_decode.py --hkv 8,2 --batch 1,8 --lengths 128k \
      --variants default,heads_first,heads_first_p2112,dims16,dims64 \
      --out $OUT/profile 2>&1 | grep -v -i warn | short_json
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
