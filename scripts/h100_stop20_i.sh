# Issue 3, stop 20, last device call (~4 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop20_i.sh
# The stored-bias attention's launch (its registers are 162 and its 3 TMA stages take 115 KB of
# shared memory, one CTA an SM): 4 or 8 warps, 2-4 stages, diagonal first or last, each checked
# against the recomputing attention, at 32k and 128k, structured 25%.
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 300 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants storedtune --out $OUT 2>&1 | grep -v -i warn | cut -c1-1500
} 2>&1 | tee $OUT/log.txt
