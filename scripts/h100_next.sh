# Issue 3, first device call of the next stop (prepared at stop 15). ~6 min;
# step 3 is its own call: scripts/h100_next_backward.sh. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next.sh
# 1. the new GPU tests (routing rows in the tensor cores' layout, bf16 included);
# 2. the end-to-end prefill table at 32k and 128k (structured, 25% and 10%) with the lean router
#    at 64-chunk blocks (stop 15's last call did not finish it), what the prior's per-(row,
#    chunk) work costs the attention (noprior: the same lists as plain block-sparse attention),
#    the routing dot's fp32 q in the tensor cores' layout (mmarows: attend.ROUTE_MMA_LAYOUT), and
#    the routing score from the chunk's attention scores (fromscores:
#    interface.ATTEND_ROUTE_FROM_SCORES);
# 3. the backward kernels with and without that layout in the dq kernel
#    (backward.BWD_Q_ROUTE_MMA_LAYOUT) and the score-based routing in the dk/dv kernel (same
#    switch as the attention's), in h100_next_backward.sh. Flip each of the three defaults only
#    where it is faster.
source scripts/device_setup.sh
{
  timeout 120 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "mma_layout or lean_router or chunk_scores" 2>&1 | tail -4
  PYTHONPATH=scripts:$PYTHONPATH timeout 240 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 --inputs structured \
      --densities 0.25,0.10 --variants noprior,mmarows,fromscores --out $OUT 2>&1 | grep -v -i warn
} 2>&1 | tee $OUT/log.txt
