# Issue 3, prepared at stop 26 for the next stop's first call. ~8 min (limits sum to 460 s).
# Carry .whl.   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next.sh
# Stop 26's bf16 run of the forward/router file reached 31 of its 46 cases (none failed) before
# its 150 s limit; this runs all of them, then the bf16 cases of the prior and Gluon attention
# files on the same code (the CPU interpreter's bf16 dot is wrong, so bf16 is checked only here).
source scripts/device_setup.sh
{
  gpu_tests test_dash 300 tests/kernels/dash/test_dash_attention.py -k "dtype2"
  gpu_tests test_prior 100 tests/kernels/dash/test_prior.py -k "dtype2"
  gpu_tests test_gluon 60 tests/kernels/dash/test_gluon_attend.py
} 2>&1 | tee $OUT/log.txt
