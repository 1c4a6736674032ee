# Issue 3, stop 32 call e. ~2.5 min (limit 130 s).   Carry the three device wheels.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop32_e.sh
# The final code (the kernels are stop 31's; the router's defaults changed): the bf16 router
# tests that calls c and d's limits cut (warm tiles, rough steps, launch order, default router).
source scripts/device_setup.sh
{
  gpu_tests test_router 130 tests/kernels/dash/test_dash_attention.py \
      -k "dtype2 and (warm_started or rough_solver or launch_order) or default_router_warm"
} 2>&1 | tee $OUT/log.txt
