# Issue 3, stop 20, second device call (prepared at stop 19; ran at d6bd9f9; the vector atomics were removed after it). ~6 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop20_b.sh
# 1. The dq kernel's summary-gradient terms four chunks a vector atomic (backward.BWD_VECTOR_ATOMICS,
#    off): its GPU tests (bf16 included), then the backward's kernels with and without it at 32k
#    (32/8 and 32/2), gradients compared.
# 2. 32-row attention tiles (`rows32`: half the tokens a tile, so narrower unions, on mma.sync
#    instead of wgmma), structured 25%.
source scripts/device_setup.sh
{
  timeout 120 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "vector_summary_atomics" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 180 python3 scripts/profile_backward.py --shapes 2 \
      --variants atomics+relaxed,atomics+relaxed+vec4 --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants rows32 --out $OUT/rows32 2>&1 | grep -v -i warn | cut -c1-700
} 2>&1 | tee $OUT/log.txt
