# Issue 3, stop 21 call c. ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop21_c.sh
# Call b: 128-row Gluon tiles cost the same per unit of compute density as 64-row ones (118 vs
# 81 ms at 128k, Hkv 8, over 0.327 vs 0.238), and q in registers (two CTAs an SM) was not
# faster: the K/V bytes and the occupancy are not what limits. This call: the Gluon attention
# with its chunk ids loaded a step ahead and the K/V requests at the step's start (the softmax
# stays between the two waits in its sm_90 code), tested and timed as in call b; then ncu's view
# of it and of attend at 32k, Hkv 8, to see what limits both.
source scripts/device_setup.sh
{
  timeout 330 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_attend.py 2>&1 \
      | tail -8
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants gluon --out $OUT 2>&1 | grep -v -i warn | cut -c1-2500
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 ncu --clock-control none --kernel-name regex:"_attend_fwd|_gluon_attend" \
      --launch-count 2 --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats \
      --section InstructionStats --section LaunchStats --section Occupancy --section MemoryWorkloadAnalysis \
      --section SchedulerStats python3 scripts/ncu_gluon.py --seqlen 32k --hkv 8 > $OUT/ncu_gluon_32k.txt 2>&1
  grep -E "^  [_a-z]|Duration|Throughput|Pipe|Stall|Issue|Eligible|Active Warps|Registers|Shared Memory Config|Hit Rate|Executed Ipc|No Eligible|max abs" \
      $OUT/ncu_gluon_32k.txt | head -90
} 2>&1 | tee $OUT/log.txt
