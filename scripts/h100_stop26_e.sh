# Issue 3, stop 26, call e. ~7 min (limits sum to 400 s).   Carry .whl.
# (Ran at b0a4993; the balanced attend it timed was removed after it: slower overall.)
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop26_e.sh
# The decode attend balanced over its programs (ATTEND_BALANCED, new default: the threshold
# flags the candidates, each program takes an even share of them) against spans of candidates
# (call d's ncu: at 128k, Hkv 2, B=1 the attend ends on its fullest spans, SMs active 57% of its
# cycles). Then the decode table and the decode file's GPU tests under the new default.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  mkdir -p $OUT/profile $OUT/decode
  env $B timeout 150 python3 scripts/profile_decode.py --hkv 2,8 --batch 1,8 --lengths 32k,128k \
      --variants default,spans --out $OUT/profile 2>&1 | grep -v -i warn | cut -c1-700
  env $B timeout 100 python3 scripts/bench_dash_bwd_decode.py --skip train --decode-len 32k,128k --out $OUT/decode 2>&1 \
      | grep -v -i warn | cut -c1-900
  gpu_tests test_decode 150 tests/kernels/dash/test_decode.py
} 2>&1 | tee $OUT/log.txt
