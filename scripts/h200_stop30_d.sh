# Issue 3, stop 30, call d. ~8 min (limits sum to 470 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop30_d.sh
# The summaries' gradient in the Gluon dk/dv kernel (backward.BWD_SUMMARY_GRAD_IN_GLUON_KV): per
# chunk, no atomics; the dq kernel stores k_row and its second pass keeps only the JVP's update.
# 1. GPU tests: the Gluon dk/dv file (against the dq kernel's atomics and float64, new), the
#    gradients through dash_attention (float64, half precision) and the Gluon dq file.
# 2. profile_backward.py at 32k, 25%, Hkv 8 and 2: default against the atomics (stop 29's path)
#    and the dk/dv kernel's registers.
# 3. The training step at 32k, 25% (cuDNN in the same process).
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_gluon_bwd_kv 150 tests/kernels/dash/test_gluon_bwd_kv.py
  gpu_tests test_grads 130 tests/kernels/dash/test_dash_attention.py tests/kernels/dash/test_gluon_bwd_q.py \
      -k "float64 or half_precision_gradients or short"
  mkdir -p $OUT/train $OUT/bwd
  env $B timeout 100 python3 scripts/profile_backward.py --shapes 2 \
      --variants default,sum_grad_in_dq,kv_regs200,sum_grad_in_dq_kv_regs168 \
      --out $OUT/bwd 2>&1 | grep -v -i warn | cut -c1-400
  env $B timeout 90 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --out $OUT/train 2>&1 | grep -v -i warn | cut -c1-700
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
