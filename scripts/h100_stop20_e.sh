# Issue 3, stop 20, fifth device call (~6 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop20_e.sh
# The stored biases in fp16 for 16-bit inputs (half the bytes), stored only within 19% of the bytes
# of q, k, v and out (the spec's 25% extra-memory budget at 128k less the rest of the forward):
# the GPU tests of prior.py (bf16 and the TMA launch included), then prefill end to end at 32k and
# 128k, 25% and 10%, structured, beside FA3, with the measured peak memory.
source scripts/device_setup.sh
{
  timeout 200 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_prior.py 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 300 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25,0.10 --variants none --out $OUT 2>&1 | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
