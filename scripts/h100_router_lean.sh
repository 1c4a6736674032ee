# Issue 3: the lean router against the first one on the H100 (see kernels/README.md): the dash
# kernel tests (bf16 included), then both routers checked against each other and timed at 32k
# and 128k, then ncu's view of one launch of each at 32k. ~5 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_router_lean.sh
source scripts/device_setup.sh
{
  timeout 200 python3 -m pytest -q -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py 2>&1 | tail -4
  PYTHONPATH=scripts:$PYTHONPATH timeout 240 python3 scripts/bench_router.py --seqlen 32k,128k --hkv 8,2 --out $OUT 2>&1 | grep -v -i warn
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 ncu --clock-control none --kernel-name regex:_route --launch-count 3 \
      --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section InstructionStats \
      --section LaunchStats --section Occupancy \
      python3 scripts/bench_router.py --once --seqlen 32k --hkv 8 --densities 0.25 --variants first_w4_s3,lean_w4_s3 \
      > $OUT/ncu_router_32k.txt 2>&1
  tail -c 3000 $OUT/ncu_router_32k.txt
} 2>&1 | tee $OUT/log.txt
