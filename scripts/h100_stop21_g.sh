# Issue 3, stop 21 call g. ~4 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop21_g.sh
# ncu's view of the Gluon attention after call e (382 instructions a warp per entry, ~1080 SM
# cycles per computed pair at 128k against 512 of tensor-core work) beside attend at 32k, Hkv 8:
# pipes, shared-memory traffic, stall reasons.
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 ncu --clock-control none --kernel-name regex:"_attend_fwd|_gluon_attend" \
      --launch-count 2 --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats \
      --section InstructionStats --section Occupancy --section MemoryWorkloadAnalysis \
      --section MemoryWorkloadAnalysis_Tables --section SchedulerStats \
      --metrics sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_uniform.avg.pct_of_peak_sustained_active,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,smsp__average_warp_latency_issue_stalled_wait.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_sleeping_per_issue_active.ratio,smsp__average_warps_issue_stalled_dispatch_stall_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio \
      python3 scripts/ncu_gluon.py --seqlen 32k --hkv 8 > $OUT/ncu_gluon_32k.txt 2>&1
  grep -v "^==PROF==" $OUT/ncu_gluon_32k.txt | grep -E "^  [_a-z]|Duration|Throughput|Pipe|pipe|stall|Stall|Issue|Eligible|Shared|shared|Bank|Registers|Executed Ipc|max abs|gmma|uniform" | head -120
} 2>&1 | tee $OUT/log.txt
