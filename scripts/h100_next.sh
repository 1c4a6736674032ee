# Issue 3, first device call of the next stop (prepared at stop 17). ~5 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next.sh
# ncu at stop 17 (results/reference/h100-dash/stop17/1d63b60/) found the dk/dv kernel (35 ms of the
# 68 ms training step at 32k, 32/8) latency-bound at 255 registers with 298M spill requests.
# backward.BWD_KV_PARTS = 2 runs two programs a chunk, each accumulating half of the head dims of
# dk, dv and the summary gradient (the scores and dO v^T recomputed: +50% products); the sm_90
# cubin's spill stack falls 288 -> 56 B a thread (G=4), 40 -> 0 (G=16). This call: its GPU tests
# (prior and block-sparse) and profile_backward.py's kernel times with and without it. Flip the
# default only where faster; then rerun the training step (bench_dash_bwd_decode.py --skip decode).
source scripts/device_setup.sh
{
  timeout 120 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      tests/kernels/dash/test_block_sparse.py -k "head_dim_parts or forward_and_gradients_match_pytorch" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/profile_backward.py --shapes 3 \
      --variants atomics,in-kv,atomics+kv2parts,in-kv+kv2parts --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
