# Issue 3, stop 31 call a (prepared at stop 30). ~7 min (limits sum to 380 s).
# Carry .whl.   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop31_a.sh
# Stop 30's call f, lost with the device: the Gluon dk/dv kernel at 168 registers a thread
# (backward.BWD_GLUON_KV_MAXNREG; stop 30 call e: Hkv 2 training step 3.01-3.02x -> 3.14x of cuDNN).
# 1. GPU tests: 168 against 128 (G = 16 and 4), the Gluon dk/dv file, the gradients through
#    dash_attention (float64, half precision). 2. The training step at 32k, 25%, both KV-head
#    counts, at 168 (cuDNN in the same process). If all pass, make 168 the default where G >= 16.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_kv_168 120 tests/kernels/dash/test_gluon_bwd_kv.py -k 168
  gpu_tests test_gluon_bwd_kv 150 tests/kernels/dash/test_gluon_bwd_kv.py -k "not 168"
  gpu_tests test_grads 60 tests/kernels/dash/test_dash_attention.py -k "float64 or half_precision_gradients"
  mkdir -p $OUT/train_168
  env $B timeout 50 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --backward-setting BWD_GLUON_KV_MAXNREG=168 --out $OUT/train_168 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
