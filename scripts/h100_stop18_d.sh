# Issue 3, stop 18, fourth device call (~8 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop18_d.sh
# Fresh end-to-end numbers at the defaults after 77682cb (the router's and the decode threshold's
# shared lean-step helpers; their cubins shifted) and 30940c4 (BWD_KV_PARTS removed): the prefill at
# 32k and 128k, 25% and 10%, both KV-head counts, against FA3; then the decode step with threshold
# programs of twice / half the warps.
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 330 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25,0.10 --variants none --out $OUT 2>&1 | grep -v -i warn | cut -c1-600
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/profile_decode.py --variants default,thr256,thr1024 \
      --out $OUT 2>&1 | grep -v -i warn | cut -c1-700
} 2>&1 | tee $OUT/log.txt
