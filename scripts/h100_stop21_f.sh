# Issue 3, stop 21 call f. ~8 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop21_f.sh
# dash_attention now runs the Gluon attention (call e: 128k attention 84.1 -> 74.5 ms at Hkv 8,
# 51.2 -> 41.2 at Hkv 2) where its biases are fp16 on sm_90 (interface.use_gluon_attend). Its
# GPU tests (dash_attention with and without it, and against the reference), then prefill end
# to end: structured 32k and 128k at 25% and 10%, random 128k at 25% and 10%.
source scripts/device_setup.sh
{
  timeout 200 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_attend.py \
      -k "dash_attention" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25,0.10 --variants none --out $OUT 2>&1 | grep -v -i warn | cut -c1-600
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_dash.py --seqlen 128k --hkv 8,2 \
      --inputs random --densities 0.25,0.10 --variants none --out $OUT/random 2>&1 | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
