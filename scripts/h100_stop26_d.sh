# Issue 3, stop 26, call d. ~7.5 min (limits sum to 450 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop26_d.sh
# 1. GPU tests of the decode file under the new attend defaults (1056 programs, 5 stages).
# 2. The training step at 32k, 25% with dq's error split off its 8 worst tokens (call c: one token
#    at the threshold's pole carried 99.8% of Hkv 8's dq error).
# 3. ncu of one decode step at 128k, 10%, B=1 (Hkv 2: 2.4x FA3, the target's 4x out of reach;
#    Hkv 8), for the next stop: where the attend kernel's ~10 us and the launches go.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
NCU="ncu --clock-control none --profile-from-start off --kernel-name regex:_decode_ --launch-count 4 \
  --section SpeedOfLight --section WarpStateStats --section LaunchStats --section Occupancy \
  --section MemoryWorkloadAnalysis --section SchedulerStats --section SourceCounters"
{
  gpu_tests test_decode 70 tests/kernels/dash/test_decode.py
  mkdir -p $OUT/train
  env $B timeout 150 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k --out $OUT/train 2>&1 \
      | grep -v -i warn | cut -c1-1200
  for hkv in 2 8; do
    timeout 110 $NCU python3 scripts/ncu_decode.py --seqlen 128k --hkv $hkv > $OUT/ncu_decode_128k_hkv$hkv.txt 2>&1
    grep -E "^  _|token density|Duration|Throughput|Achieved Occupancy|No Eligible|Registers Per|Waves Per SM|Stall|One or More" \
        $OUT/ncu_decode_128k_hkv$hkv.txt | head -60
  done
} 2>&1 | tee $OUT/log.txt
