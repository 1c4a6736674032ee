# Issue 3, second device call of the next stop (prepared at stop 19). ~6 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next_b.sh
# 1. The dq kernel's summary-gradient terms four chunks a vector atomic (backward.BWD_VECTOR_ATOMICS,
#    off): its GPU tests (bf16 included), then the backward's kernels with and without it at 32k
#    (32/8 and 32/2), gradients compared.
# 2. Random inputs end to end at 128k (last timed at stop 15).
source scripts/device_setup.sh
{
  timeout 120 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "vector_summary_atomics" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 180 python3 scripts/profile_backward.py --shapes 2 \
      --variants atomics+relaxed,atomics+relaxed+vec4 --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 \
      --inputs random --densities 0.25 --variants none --out $OUT/random 2>&1 | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
