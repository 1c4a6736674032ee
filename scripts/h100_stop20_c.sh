# Issue 3, stop 20, third device call (~6 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop20_c.sh
# The prior's biases stored before the attention, now the default (interface.ATTEND_STORED_BIAS,
# within half the bytes of q, k, v and out; 3 TMA stages, diagonal chunk last): the GPU tests of
# prior.py (bf16 and the TMA launch included) and the forward's, then prefill end to end at 32k
# and 128k, 25% and 10%, structured, beside FA3.
source scripts/device_setup.sh
{
  timeout 200 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_prior.py 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 300 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25,0.10 --variants none --out $OUT 2>&1 | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
