# Issue 3, stop 27, call a. ~9 min (limits sum to 500 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop27_a.sh
# 1. The bf16 GPU tests stop 26 left: the 15 forward/router cases its limit cut (the 31 it passed,
#    read from its log, are deselected), the prior's bf16 cases, the Gluon attention's file (its
#    60 s limit reached 5 of its 52 cases).
# 2. Where the training step's backward goes now (32k, 25%, Hkv 8 and 2): the kernels' times at
#    the defaults, with 8-warp dq and with 4-warp dk/dv programs.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
DONE=results/reference/h100-dash/stop26/d187730_a/test_dash.txt
{
  gpu_tests test_dash 200 tests/kernels/dash/test_dash_attention.py -k "dtype2" \
      $(grep PASSED $DONE | awk '{print "--deselect", $1}')
  gpu_tests test_prior 100 tests/kernels/dash/test_prior.py -k "dtype2"
  gpu_tests test_gluon 60 tests/kernels/dash/test_gluon_attend.py
  mkdir -p $OUT/bwd
  env $B timeout 140 python3 scripts/profile_backward.py --shapes 2 \
      --variants atomics+relaxed,atomics+q8warps,kv4warps --out $OUT/bwd 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
