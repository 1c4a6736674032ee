# Issue 3, stop 23 call f. ~1.5 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop23_f.sh
# prior.LIST_BLOCK 64 (call e: the stored biases 23-35% faster at 128k): its GPU tests, then the
# end-to-end prefill at 128k, structured 25%, FA3 in the same process.
source scripts/device_setup.sh
{
  timeout 70 python3 -m pytest -q -rf -x -p no:cacheprovider -p no:warnings tests/kernels/dash/test_prior.py 2>&1 | tail -3
  PYTHONPATH=scripts:$PYTHONPATH timeout 60 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 \
      --inputs structured --densities 0.25 --variants none --out $OUT/e2e 2>&1 | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
