# The hierarchical baselines on the lent H100: their GPU tests, the side-by-side benchmark at
# equal density (issue 4's table), the per-method benchmarks and the million-token runs.
# Output under $OUT (bench_*.json, run_1m_sparse.json, log.txt).
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_baselines.sh
#   PHASES=tests,baselines bash scripts/h100_baselines.sh   (a subset: tests, baselines, infllmv2, nsa, 1m)
# .whl/ must hold fla-core's wheel too (`pip download --no-deps -d .whl fla-core`).
source scripts/device_setup.sh
PHASES=${PHASES:-tests,baselines,1m}
{
  [[ $PHASES == *tests* ]] && timeout 300 python3 -m pytest -q -p no:cacheprovider -p no:warnings \
      tests/kernels/infllmv2 tests/kernels/nsa tests/kernels/dash/test_block_sparse.py \
      tests/kernels/dash/test_decode.py tests/providers 2>&1 | tail -5
  [[ $PHASES == *baselines* ]] && timeout 420 python3 scripts/bench_baselines.py --out $OUT 2>&1 | grep -v -i warn
  [[ $PHASES == *infllmv2* ]] && timeout 400 python3 scripts/bench_infllmv2.py --out $OUT 2>&1 | grep -v -i warn
  [[ $PHASES == *nsa* ]] && timeout 400 python3 scripts/bench_nsa.py --out $OUT 2>&1 | grep -v -i warn
  [[ $PHASES == *1m* ]] && timeout 300 python3 scripts/run_1m_sparse.py --out $OUT 2>&1 | grep -v -i warn
} | tee $OUT/log.txt
