# Issue 3, stop 27, call f. ~6 min (limits sum to 360 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop27_f.sh
# The Gluon attention's GPU tests, whose file call a's 60 s limit cut after 5 of 52 cases, and
# the producer-warp kernel's (the attention dash_attention runs on an H100), on the final code.
source scripts/device_setup.sh
{
  gpu_tests test_gluon_ws 120 tests/kernels/dash/test_gluon_ws_attend.py
  gpu_tests test_gluon 240 tests/kernels/dash/test_gluon_attend.py
} 2>&1 | tee $OUT/log.txt
