# Issue 3, stop 17, last device call (~6 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop17_d.sh
# ncu's view of the training step's kernels at 32k, 25%, 32/8 heads (the backward is 0.83x of
# cuDNN there; the dk/dv kernel runs 8 warps with 255 registers and spills, one CTA an SM), and of
# the router at 128k (a third of the prefill), for the next stop's work.
source scripts/device_setup.sh
{
  timeout 200 ncu --clock-control none --profile-from-start off --kernel-name regex:"_bwd_kv|_bwd_q|_route_lean" --launch-count 3 \
      --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section InstructionStats \
      --section LaunchStats --section Occupancy --section MemoryWorkloadAnalysis --section SchedulerStats \
      python3 scripts/ncu_train_step.py --seqlen 32k --hkv 8 > $OUT/ncu_train_32k.txt 2>&1
  grep -E "^  _|Duration|Throughput|Achieved Occupancy|Theoretical Occupancy|No Eligible|Registers Per|Block Limit|Local Memory Spilling Requests " \
      $OUT/ncu_train_32k.txt | head -80
  timeout 150 ncu --clock-control none --profile-from-start off --kernel-name regex:"_route_lean" --launch-count 1 \
      --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section InstructionStats \
      --section LaunchStats --section Occupancy --section MemoryWorkloadAnalysis --section SchedulerStats \
      python3 scripts/ncu_attend.py --seqlen 128k --hkv 8 > $OUT/ncu_route_128k.txt 2>&1
  grep -E "^  _|Duration|Throughput|Achieved Occupancy|Theoretical Occupancy|No Eligible|Registers Per|Block Limit|Local Memory Spilling Requests " \
      $OUT/ncu_route_128k.txt | head -40
} 2>&1 | tee $OUT/log.txt
