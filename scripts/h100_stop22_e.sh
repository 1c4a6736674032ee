# Issue 3, stop 22, call e. ~4 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop22_e.sh
# Where the producer-warp Gluon attention (the default since call a) and the two-chunks-a-step
# one wait: ncu's stall reasons and, per SASS instruction, its stall samples (CSV, read on the
# CPU machine), at 32k, Hkv 2 (the case nearest its 2.5x target), structured 25%.
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 240 ncu --clock-control none --kernel-name regex:"_gluon_ws_attend|_gluon_wide" \
      --launch-count 2 --section WarpStateStats --section SourceCounters --section SpeedOfLight \
      --metrics smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_dispatch_stall_per_issue_active.ratio,smsp__average_warps_issue_stalled_membar_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio \
      --export $OUT/ws_wide_32k --import-source no \
      python3 scripts/ncu_gluon.py --seqlen 32k --hkv 2 > $OUT/ncu_32k.txt 2>&1
  grep -v "^==PROF==" $OUT/ncu_32k.txt | grep -E "^  [_a-z]|Duration|Throughput|stall|Stall|Issue|Eligible|max abs|Warp Cycles" | head -60
  for k in _gluon_ws_attend _gluon_wide; do
    timeout 120 ncu --import $OUT/ws_wide_32k.ncu-rep --kernel-name regex:$k --page source --print-source sass --csv \
        > $OUT/sass_stalls$k.csv 2>&1
    wc -c $OUT/sass_stalls$k.csv; head -c 600 $OUT/sass_stalls$k.csv; echo
  done
  rm -f $OUT/ws_wide_32k.ncu-rep
} 2>&1 | tee $OUT/log.txt
