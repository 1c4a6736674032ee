# Issue 3, third device call of the next stop (prepared at stop 19). ~4 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next_c.sh
# Random (incoherent) inputs end to end at 128k, 25% and 10% (last timed at stop 15), beside FA3.
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 240 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 \
      --inputs random --densities 0.25,0.10 --variants none --out $OUT 2>&1 | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
