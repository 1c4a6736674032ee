# Issue 3, stop 24 call d. ~2.5 min (the session's last device time). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop24_d.sh
# The forward's host path after the lists' size fetch, trimmed (the router's operand formed once
# for the router and the biases, the list offsets launched before the fetch): call c measured
# 0.65 / 0.71 ms a call outside the kernels at 32k (Hkv 8 / 2). End to end against FA3 in
# rotated rounds, and the time outside the kernels again.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  env $B timeout 50 python3 scripts/bench_dash.py --seqlen 32k --hkv 8,2 --inputs structured \
      --densities 0.25 --variants none --rounds 5 --out $OUT/e2e_32k 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 35 python3 scripts/profile_prefill_gaps.py --seqlen 32k --hkv 8,2 --out $OUT/gaps 2>&1 | grep -v -i warn
  env $B timeout 45 python3 scripts/bench_dash.py --seqlen 128k --hkv 2 --inputs structured \
      --densities 0.25 --variants none --rounds 3 --out $OUT/e2e_128k 2>&1 | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
