# Issue 3, stop 30, call f. ~4 min (limits sum to 230 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop30_f.sh
# The Gluon dk/dv kernel at 168 registers a thread where G >= 16 (backward.BWD_GLUON_KV_MAXNREG
# None; call e: faster at Hkv 2). 1. GPU tests of the Gluon dk/dv file (G = 16 cases at 168) and
# the gradients through dash_attention. 2. The training step at 32k, 25%, both KV-head counts.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_gluon_bwd_kv 90 tests/kernels/dash/test_gluon_bwd_kv.py -k "32-2-777 or 16-1-300 or float64"
  gpu_tests test_grads 80 tests/kernels/dash/test_dash_attention.py -k "float64 or half_precision_gradients"
  mkdir -p $OUT/train
  env $B timeout 60 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --out $OUT/train 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
