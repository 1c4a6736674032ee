# Issue 3, stop 18, first device call (~7 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop18_a.sh
# 1. backward.BWD_KV_PARTS (dk/dv over two head-dim halves): GPU tests, then kernel times against
#    the default (prepared at stop 17 as h100_next.sh).
# 2. The decode step at the defaults after 77682cb (shared lean-step helpers; the threshold
#    kernel's cubin went 71 -> 59 registers), not re-timed since.
source scripts/device_setup.sh
{
  timeout 120 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      tests/kernels/dash/test_block_sparse.py -k "head_dim_parts or forward_and_gradients_match_pytorch" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/profile_backward.py --shapes 3 \
      --variants atomics,in-kv,atomics+kv2parts,in-kv+kv2parts --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 120 python3 scripts/profile_decode.py --variants default --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-700
} 2>&1 | tee $OUT/log.txt
