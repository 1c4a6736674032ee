# Issue 3, stop 26, call g. ~3 min (limit 150 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop26_g.sh
# The decode table on the final code with the final copy rule: cache copies until the
# bytes the steps touch pass 4 L2s (benchtools.cold_decode_copies; calls a-e capped them at 16,
# which at 32k, Hkv 2, B=1 reached only ~1.2 L2s).
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  mkdir -p $OUT/decode
  env $B timeout 150 python3 scripts/bench_dash_bwd_decode.py --skip train --decode-len 32k,128k --hkv 2,8 \
      --out $OUT/decode 2>&1 | grep -v -i warn | cut -c1-1000
} 2>&1 | tee $OUT/log.txt
