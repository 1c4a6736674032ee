# The hierarchical baselines on the lent H100: their GPU tests, then the InfLLMv2 and NSA
# benchmarks and the million-token runs. Output under $OUT (bench_*.json, run_1m_sparse.json, log.txt).
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_baselines.sh
#   PHASES=tests,infllmv2 bash scripts/h100_baselines.sh     (a subset: tests, infllmv2, nsa, 1m)
# .whl/ must hold fla-core's wheel too (`pip download --no-deps -d .whl fla-core`).
source scripts/device_setup.sh
PHASES=${PHASES:-tests,infllmv2,nsa,1m}
{
  [[ $PHASES == *tests* ]] && timeout 300 python3 -m pytest -q -p no:cacheprovider -p no:warnings \
      tests/kernels/infllmv2 tests/kernels/nsa tests/kernels/dash/test_block_sparse.py tests/providers 2>&1 | tail -5
  [[ $PHASES == *infllmv2* ]] && timeout 400 python3 scripts/bench_infllmv2.py --out $OUT 2>&1 | grep -v -i warn
  [[ $PHASES == *nsa* ]] && timeout 400 python3 scripts/bench_nsa.py --out $OUT 2>&1 | grep -v -i warn
  [[ $PHASES == *1m* ]] && timeout 500 python3 scripts/run_1m_sparse.py --out $OUT 2>&1 | grep -v -i warn
} | tee $OUT/log.txt
