# Issue 3, stop 21 call h. ~6 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop21_h.sh
# Call g's ncu: the Gluon attention's warps wait on global loads (long scoreboard, 1.3 of 5.2
# cycles between issues): the stored bias words were loaded in the step that uses them. Now each
# step loads the next step's words after its PV's wait (in the sm_90 code the load lands before
# the softmax's ex2s, which stay between the waits). Its GPU tests, then its time against attend
# as in call e, then prefill end to end (structured, 32k and 128k, 25%).
source scripts/device_setup.sh
{
  timeout 250 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_attend.py \
      -k "not pair" 2>&1 | tail -6
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants gluon --out $OUT 2>&1 | grep -v -i warn | cut -c1-2500
} 2>&1 | tee $OUT/log.txt
