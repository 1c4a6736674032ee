# Issue 3, stop 17, device call e (~6 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop17_e.sh
# ncu (stop17/1d63b60/) found both backward kernels at 255 registers with ~300M local-memory
# (spill) requests each at 32k, 32/8. backward.BWD_Q_SUMMARY_MMA takes the dq kernel's routing dot
# to the tensor cores, so its fp32 copy of q goes (sm_90 cubin: 224 -> 80 B of stack a thread).
# 1. its GPU tests (bf16 included); 2. profile_backward.py with and without it.
source scripts/device_setup.sh
{
  timeout 150 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "(routing_dot_on_tensor_cores and Q_SUMMARY) or backward_variants" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/profile_backward.py --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
