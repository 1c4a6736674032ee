# Issue 3, stop 21 call a (prepared at stop 20). ~5 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop21_a.sh
# The experimental Gluon attention (kernels/dash/gluon_attend.py, FA3's order: the next entry's
# QKᵀ and this entry's PV issued together, the next softmax while the PV runs, which plain Triton
# does not schedule; built and compiled for sm_90 at stop 20, never run): its GPU tests against
# attend, then at 32k and 128k, structured 25%, its time at 2 and 3 stages against the
# stored-bias attention over the same lists (checked first).
source scripts/device_setup.sh
{
  timeout 150 python3 -m pytest -q -rf -x -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_attend.py 2>&1 \
      | tail -15
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 240 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants gluon --out $OUT 2>&1 | grep -v -i warn | cut -c1-900
} 2>&1 | tee $OUT/log.txt
