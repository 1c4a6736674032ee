# Issue 3, stop 20, eighth device call (~6 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop20_h.sh
# fp16 stored biases read as int32 pairs (2-byte loads had cost the attention 82 -> 90 ms at
# 128k, Hkv 8, against fp32): the GPU tests of prior.py, the attention over fp16 against fp32
# biases at 128k, 25%, in one process, then prefill end to end at 32k and 128k, 25% and 10%.
source scripts/device_setup.sh
{
  timeout 200 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_prior.py 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_dash.py --seqlen 128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants storedbias --out $OUT/storedbias 2>&1 | grep -v -i warn \
      | cut -c1-900
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25,0.10 --variants none --out $OUT 2>&1 | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
