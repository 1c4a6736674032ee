# Issue 3, stop 33 call b: the decode attend over interleaved spans (decode_kernels.ATTEND_INTERLEAVED:
# every n_split-th candidate a program, so that runs of routed chunks spread over the programs).
# ~6 min. Carry the three device wheels. DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop33_b.sh
# 1. GPU tests: the decode file (with the new interleaved-against-contiguous test);
# 2. decode variants at 128k, 10%, B = 1 and 8, both KV-head counts (cold graph replays, FA3 in the
#    same process; the default timed before and after the variant);
# 3. the decode rows (bench_dash_bwd_decode.py), default then interleaved, each with FA3.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_decode 90 tests/kernels/dash/test_decode.py
  env $B timeout 200 python3 scripts/profile_decode.py --variants default,interleaved,default_again \
      --hkv 8,2 --batch 1,8 --lengths 128k --out $OUT/profile 2>&1 | grep -v -i warn | short_json | cut -c1-700
  env $B timeout 100 python3 scripts/bench_dash_bwd_decode.py --skip train --decode-len 128k --hkv 2,8 \
      --out $OUT/decode_default 2>&1 | grep -v -i warn | cut -c1-600
  env $B timeout 100 python3 scripts/bench_dash_bwd_decode.py --skip train --decode-len 128k --hkv 2,8 \
      --decode-setting ATTEND_INTERLEAVED=True --out $OUT/decode_interleaved 2>&1 | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
