# Issue 3, first device call of the next stop (prepared at stop 25). ~9.5 min (limits sum to 570 s).
# Carry .whl.   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next.sh
# Stop 25 changed the forward's defaults (router and biases longest first, 4 warm router tiles at
# every length, no synchronization in short inference calls) and spent its device time on the
# prefill. This call re-records what it did not reach with the final code:
# 1. GPU tests, bf16 cases of the forward/router file and the decode file (the CPU interpreter
#    checks fp32/fp16; its bf16 dot is wrong).
# 2. The training step at 32k, 25% against cuDNN (stop 20: 0.86x / 1.35x; the forward under it
#    now routes with warm tiles and longest first).
# 3. Decode at 128k, 10%, B=1 and 8 (stop 19: 5.91x / 3.17x at B=1, 9.82x / 6.41x at B=8).
# 4. The 128k random row at Hkv 8, cut at stop 25 (stop 24: 0.58x).
# 5. 8 warm router tiles a program against the default 4 at 32k, 25% (2.52x in rounds at Hkv 2,
#    a thin margin): stop 24 found 8 no better than 4 at 128k, before the longest-first launch
#    took away the long programs' tail.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_dash 120 tests/kernels/dash/test_dash_attention.py -k "dtype2"
  gpu_tests test_decode 60 tests/kernels/dash/test_decode.py
  echo
  mkdir -p $OUT/train $OUT/decode
  env $B timeout 150 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k --out $OUT/train 2>&1 \
      | grep -v -i warn | cut -c1-400
  env $B timeout 90 python3 scripts/bench_dash_bwd_decode.py --skip train --decode-len 128k --out $OUT/decode 2>&1 \
      | grep -v -i warn | cut -c1-400
  env $B timeout 90 python3 scripts/bench_dash.py --seqlen 128k --hkv 8 --inputs random --densities 0.25 \
      --variants none --rounds 3 --out $OUT/e2e_128k_random 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 60 python3 scripts/bench_dash.py --seqlen 32k --hkv 2,8 --inputs structured --densities 0.25 \
      --variants none --rounds 7 --rounds-against route.ROUTE_WARM_TILES=8 --out $OUT/e2e_32k 2>&1 \
      | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
