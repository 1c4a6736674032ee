# Issue 3, stop 16, last device call (~7 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop16_c.sh
# The whole dash kernel test file at the stop's defaults (bf16 included), then ncu's view of the
# attention kernel at 32k (Hkv 8, structured 25%), with and without the prior, for the next
# stop's work on the attention (two thirds of the 128k prefill).
source scripts/device_setup.sh
{
  timeout 260 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py 2>&1 | tail -6
  timeout 170 ncu --clock-control none --kernel-name regex:_attend_fwd --launch-count 2 \
      --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section InstructionStats \
      --section LaunchStats --section Occupancy --section MemoryWorkloadAnalysis --section SchedulerStats \
      python3 scripts/ncu_attend.py --seqlen 32k --hkv 8 > $OUT/ncu_attend_32k.txt 2>&1
  tail -c 2500 $OUT/ncu_attend_32k.txt
} 2>&1 | tee $OUT/log.txt
