# Issue 3, stop 22, call c. ~8 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop22_c.sh
# GPU tests: the two-chunks-a-step Gluon attention (gluon_wide_attend) against attend, the
# chunk lists' expand (16 words a step) against a plain construction, use_gluon_attend's
# refusal of fp32 inputs (call b sent them to the Gluon kernel). Then the end-to-end benchmark
# at 25% with gluon_attend, gluon_ws_attend (the default) and gluon_wide_attend timed beside
# it in one process, and at 10% (end to end only); the SM clock and power logged beside.
source scripts/device_setup.sh
{
  (nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_throttle_reasons.active \
      --format=csv,noheader -lms 250 > $OUT/smi.csv 2>&1 &)
  timeout 220 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_wide_attend.py \
      tests/kernels/dash/test_chunk_lists.py tests/kernels/dash/test_gluon_attend.py tests/kernels/dash/test_dash_attention.py \
      -k "wide or chunk_lists or lists_hold or fp32 or checked or stats or with_the_gluon or non_finite" 2>&1 | tail -8
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants wide --out $OUT 2>&1 | grep -v -i warn | cut -c1-1500
  mkdir -p $OUT/d10
  PYTHONPATH=scripts:$PYTHONPATH timeout 120 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.1 --variants "" --out $OUT/d10 2>&1 | grep -v -i warn | cut -c1-600
  pkill nvidia-smi
} 2>&1 | tee $OUT/log.txt
