# Issue 3, stop 17, third device call. ~8 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop17_a.sh
# 1. GPU tests of what changed this stop: the decode file (the lean threshold step now on, the
#    D-sliced combine and programmatic dependent launch), block-sparse attention (own block last,
#    3 stages), the diagonal-last tests with their tf32 tolerance.
# 2. profile_decode.py: the decode step at 128k, 10%, Hkv 8/2, B 1/8 with PDL and with more
#    spans (MAX_SPLIT 128/256) merged over head-dim slices (COMBINE_DIMS), beside FA3.
# 3. kernel_resources.py: registers, spills and shared memory of the kernels as launched.
source scripts/device_setup.sh
{
  timeout 200 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_decode.py \
      tests/kernels/dash/test_block_sparse.py 2>&1 | tail -4
  timeout 60 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "diagonal_chunk_last" 2>&1 | tail -4
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/profile_decode.py --out $OUT 2>&1 | grep -v -i warn | cut -c1-700
  PYTHONPATH=scripts:$PYTHONPATH timeout 60 python3 scripts/kernel_resources.py --out $OUT 2>&1 | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
