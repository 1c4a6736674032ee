# Issue 3, stop 21 call b. ~6 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop21_b.sh
# Call a: the Gluon attention in FA3's order equals attend and runs 1-2.5% faster than it (the
# overlap is not what limits). This call: its tiles of 128 rows (two warpgroups: half the K/V
# bytes per computed row over wider lists) and q as the QKᵀ's register operand (16 KB of shared
# memory less: two 64-row CTAs of 3 stages an SM), checked against attend on the GPU first.
source scripts/device_setup.sh
{
  timeout 330 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_attend.py 2>&1 \
      | tail -15
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 240 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants gluon --out $OUT 2>&1 | grep -v -i warn | cut -c1-2500
} 2>&1 | tee $OUT/log.txt
