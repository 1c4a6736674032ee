# Issue 3, first device call of the next stop (prepared at stop 22). ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next.sh
# The split-ring attention (gluon_split_attend: K and V in rings of their own, each fed by its
# own producer warp, so that a K slot is requested two steps before its QKᵀ instead of one; ncu
# at stop 22 put ~7% of the default kernel's consumer samples on K/V data not yet arrived): its
# GPU tests against attend, then its time beside gluon_ws_attend (the default) in one process,
# 32k and 128k, Hkv 8 and 2, structured 25%, K/V rings 3/3 and 4/2. If it is faster, make it
# the default (interface.gluon_kernel) and rerun the end-to-end benchmark at 25% and 10%.
source scripts/device_setup.sh
{
  timeout 200 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_split_attend.py \
      2>&1 | tail -6
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 240 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants split --out $OUT 2>&1 | grep -v -i warn | cut -c1-1500
} 2>&1 | tee $OUT/log.txt
