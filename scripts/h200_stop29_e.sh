# Issue 3, stop 29, call e. ~4 min (limits sum to 230 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop29_e.sh
# The GPU tests call b's limits cut, on the final code: the Gluon backward at 1, 63, 65 and 130
# tokens (through stage 1's fused backward) and the whole decode file.
source scripts/device_setup.sh
{
  gpu_tests test_gluon_short 110 tests/kernels/dash/test_gluon_bwd_q.py -k "short"
  gpu_tests test_decode 120 tests/kernels/dash/test_decode.py
} 2>&1 | tee $OUT/log.txt
