# Issue 3, stop 26, call e. ~3 min (limit 170 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop26_e.sh
# The decode file's GPU tests under the new attend defaults with room to finish (call d's 70 s
# limit cut its last test after 15 passed).
source scripts/device_setup.sh
{
  gpu_tests test_decode 170 tests/kernels/dash/test_decode.py
} 2>&1 | tee $OUT/log.txt
