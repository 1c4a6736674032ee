# Issue 3, stop 26, call a. ~9.5 min (limits sum to 560 s).   Carry .whl.
# (Ran at d187730: its profile_decode.py variants and key names are that commit's.)
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop26_a.sh
# Decode at 128k was timed with its scaling calibrated on the prefill's mean, which left the
# decoded row at 6.1% (Hkv 2) / 6.4% (Hkv 8), not the target's 10%, and its graph replays reread
# one cache whose ~13 MB of touched bytes sit in the L2. Both scripts now calibrate on the decoded
# row and time graph replays that rotate over cache copies (cold reads).
# 1. profile_decode.py: the default and the attend loop's pipeline depth / program count.
# 2. bench_dash_bwd_decode.py --skip train: the decode rows as the table reports them.
# 3. GPU tests: the decode file, then the bf16 cases of the forward file (prepared at stop 25).
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  mkdir -p $OUT/profile $OUT/decode
  env $B timeout 220 python3 scripts/profile_decode.py --hkv 2,8 --batch 1,8 \
      --variants default,stages5,stages7,progs1056,progs1056_stages5,split256_stages5 --out $OUT/profile 2>&1 \
      | grep -v -i warn | short_json
  env $B timeout 120 python3 scripts/bench_dash_bwd_decode.py --skip train --decode-len 128k --out $OUT/decode 2>&1 \
      | grep -v -i warn | cut -c1-700
  gpu_tests test_decode 70 tests/kernels/dash/test_decode.py
  gpu_tests test_dash 150 tests/kernels/dash/test_dash_attention.py -k "dtype2"
} 2>&1 | tee $OUT/log.txt
