# Issue 3, stop 29, call f. ~6 min (limits sum to 330 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop29_f.sh
# GPU tests after the review mends (stage 1's shared pooling helper; the Gluon kernels' ring
# barriers from one helper, their sm_90 builds unchanged): stage 1's kernels, the forward's Gluon
# attention, both Gluon backward kernels.
source scripts/device_setup.sh
{
  gpu_tests test_summarize 30 tests/kernels/dash/test_summarize.py
  gpu_tests test_gluon_ws_attend 110 tests/kernels/dash/test_gluon_ws_attend.py
  gpu_tests test_gluon_bwd_kv 90 tests/kernels/dash/test_gluon_bwd_kv.py
  gpu_tests test_gluon_bwd_q 100 tests/kernels/dash/test_gluon_bwd_q.py -k "float64 or short"
} 2>&1 | tee $OUT/log.txt
