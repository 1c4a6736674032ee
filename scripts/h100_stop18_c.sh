# Issue 3, stop 18, third device call (~5 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop18_c.sh
# The decode attend kernel with interleaved spans (DECODE_STRIDED_SPANS: a run of routed chunks is
# shared out over programs instead of one program taking it all) and its routed list in registers
# (DECODE_REGISTER_LIST: no write and read-back; the K/V loads can then be pipelined), alone,
# together, at fewer spans and in the one-launch step; decode tests on the GPU first.
source scripts/device_setup.sh
{
  timeout 150 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_decode.py 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 300 python3 scripts/profile_decode.py \
      --variants default,strided,reglist,strided_reglist,strided_reglist_split64,strided_reglist_split32,fused_strided_reglist \
      --out $OUT 2>&1 | grep -v -i warn | cut -c1-900
} 2>&1 | tee $OUT/log.txt
