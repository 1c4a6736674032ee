# Issue 3, second device call of the next stop (prepared at stop 16). ~7 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next_backward.sh
# The dk/dv kernel (35 ms of the 69 ms training step at 32k, 32/8) walks the chunk's own tiles
# and the listing tiles in one loop that branches on the tile's kind every step;
# backward.BWD_KV_SPLIT_LOOPS walks them in two plain loops (the sm_90 cubin then pipelines the
# second: 69 instead of 50 KB of shared memory at G=4). This call: the GPU tests of that path and
# profile_backward.py's kernel times with and without it (both summary-gradient paths). Flip
# the default only where it is faster.
source scripts/device_setup.sh
{
  timeout 100 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      tests/kernels/dash/test_block_sparse.py -k "split_kv or forward_and_gradients_match_pytorch" 2>&1 | tail -4
  timeout 60 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_decode.py 2>&1 | tail -4
  PYTHONPATH=scripts:$PYTHONPATH timeout 300 python3 scripts/profile_backward.py --out $OUT 2>&1 | grep -v -i warn
} 2>&1 | tee $OUT/log.txt
# If time is left in the same call: the decode step with the lean threshold step
# (decode_kernels.DECODE_LEAN_THRESHOLD) against the default, per kernel and under CUDA graphs.
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/profile_decode.py --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee -a $OUT/log.txt
