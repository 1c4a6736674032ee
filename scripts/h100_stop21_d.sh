# Issue 3, stop 21 call d. ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop21_d.sh
# Call c's ncu: the 64-row attention's busiest unit is L2 (78-80% of its throughput at 32k,
# Hkv 8, both attend and the Gluon kernel). This call: the warp-specialized Gluon attention over
# pairs of adjacent tiles (kernels/dash/gluon_pair_attend.py: a producer warp loads each chunk
# of the two tiles' union once, two consumer warpgroups compute their own tiles' lists), its GPU
# tests against attend, then its time at 32k and 128k against the stored-bias attend in the
# same process, at 3-5 stages.
source scripts/device_setup.sh
{
  timeout 330 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_attend.py -k pair 2>&1 \
      | tail -15
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 220 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants gluonpair --out $OUT 2>&1 | grep -v -i warn | cut -c1-2500
} 2>&1 | tee $OUT/log.txt
