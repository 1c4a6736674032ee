# Issue 3, first device call of the next stop (prepared at stop 16). ~6 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next.sh
# ncu at stop 16 (results/reference/h100-dash/stop16/9288e56/) found the attention latency-bound:
# two CTAs an SM (115 KB of shared memory each; the diagonal chunk's K and V stay beside the
# loop's buffers), two warps a scheduler, no eligible warp on 52-65% of cycles. The diagonal
# chunk last (attend.ATTEND_DIAGONAL_LAST) takes 83 KB at 2 stages and 116 KB at 3 (sm_90
# cubin), so a third stage fits two CTAs. This call:
# 1. the GPU tests of that path (bf16 included);
# 2. bench_dash at 32k and 128k, structured 25%, both KV-head counts: the attention with the
#    diagonal first (2 stages, the default) and last at 2 and 3 stages, with the prior and
#    without (the block-sparse kernel InfLLMv2 and NSA share); the router with and without the
#    first pass's probe at max - 1/4 (route.ROUTE_PROBE; a CPU simulation at 32k cut a
#    program's solver steps from 4-5 to 3). Flip each default only if faster.
source scripts/device_setup.sh
{
  timeout 150 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "diagonal_chunk_last or rough_solver or probe" 2>&1 | tail -4
  PYTHONPATH=scripts:$PYTHONPATH timeout 330 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 --inputs structured \
      --densities 0.25 --variants diaglast,probe --out $OUT 2>&1 | grep -v -i warn
} 2>&1 | tee $OUT/log.txt
