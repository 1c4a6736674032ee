# Issue 3, stop 18, second device call (~4 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop18_b.sh
# The decode step in one launch (decode_kernels.DECODE_FUSED: the four kernels as roles of one grid,
# synchronized per (batch, KV head) through counters): the decode tests on the GPU (the one-launch
# step must equal the four launches exactly and leave its counters zeroed), then the step under a
# CUDA graph at 128k, 10%, against the four launches and FA3.
source scripts/device_setup.sh
{
  timeout 150 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_decode.py 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/profile_decode.py \
      --variants default,fused,fused_split256,fused_split64 --out $OUT 2>&1 | grep -v -i warn | cut -c1-900
} 2>&1 | tee $OUT/log.txt
