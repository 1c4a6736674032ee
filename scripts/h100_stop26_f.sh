# Issue 3, stop 26, call f. ~3 min (limit 170 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop26_f.sh
# The decode file's GPU tests on the final decode code (1056 attend programs at 5 stages, spans;
# call d's 70 s limit cut its last test; call e ran the balanced attend, since removed).
source scripts/device_setup.sh
{
  gpu_tests test_decode 170 tests/kernels/dash/test_decode.py
} 2>&1 | tee $OUT/log.txt
