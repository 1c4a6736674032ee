# Issue 3, stop 31 call d. ~8 min (limits sum to 490 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop31_d.sh
# The final code: the router's sample start on where the rough solve runs (route.ROUTE_SAMPLE_START
# "auto": 128k), the Gluon dk/dv kernel at 168 registers a thread where G >= 16.
# 1. GPU tests: the sample start (bf16) and the default router's launch settings;
# 2. prefill 128k, structured, 25% and 10%, 3 rotated rounds, against the sample start off;
# 3. the training step at 32k, 25%, both KV-head counts (cuDNN in the same process);
# 4. prefill 128k, random, 25%, 3 rounds, against the sample start off.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_sample 90 tests/kernels/dash/test_dash_attention.py -k "(sample_started and dtype2) or default_router_warm"
  env $B timeout 230 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 3 --rounds-against route.ROUTE_SAMPLE_START=False \
      --out $OUT/e2e_128k 2>&1 | grep -v -i warn | cut -c1-400
  mkdir -p $OUT/train
  env $B timeout 80 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --out $OUT/train 2>&1 | grep -v -i warn | cut -c1-600
  env $B timeout 90 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs random \
      --densities 0.25 --variants none --rounds 3 --rounds-against route.ROUTE_SAMPLE_START=False \
      --out $OUT/e2e_128k_random 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
