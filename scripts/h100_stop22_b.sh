# Issue 3, stop 22, call b. ~8 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop22_b.sh
# dash_attention now runs the producer-warp Gluon attention (gluon_ws_attend) for one or more
# sequences and fp16 or fp32 biases, and checks head_cls's values with the lists' size (one
# synchronization a call instead of two). Its GPU tests (two sequences and fp32 biases through
# both Gluon kernels; dash_attention with and without them, fp16 included; gradients), then the
# end-to-end benchmark at 25% and 10% with the GPU's SM clock and power logged beside it, then
# where the end-to-end time beyond the stages goes (host cProfile, kernels in sustained load).
source scripts/device_setup.sh
{
  (nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_throttle_reasons.active \
      --format=csv,noheader -lms 250 > $OUT/smi.csv 2>&1 &)
  timeout 200 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_attend.py \
      tests/kernels/dash/test_dash_attention.py \
      -k "fp32 or two_sequences or with_the_gluon or checked or stats or default or gradients_through or non_finite" 2>&1 | tail -6
  echo
  date +%T.%N
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25,0.1 --out $OUT 2>&1 | grep -v -i warn | cut -c1-1500
  date +%T.%N
  echo
  for case in "--seqlen 32k --hkv 2" "--seqlen 128k --hkv 8"; do
    echo "== probe $case"
    PYTHONPATH=scripts:$PYTHONPATH timeout 100 python3 scripts/probe_prefill_gap.py $case 2>&1 \
        | grep -v -i warn | grep -v "^---\|^ *Name \|Self CPU\|Self CUDA\|aten::\|at::native" | cut -c1-220 | tail -60
  done
  pkill nvidia-smi
} 2>&1 | tee $OUT/log.txt
