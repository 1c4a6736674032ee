# Issue 3, stop 30, call e. ~4 min (limits sum to 300 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop30_e.sh
# Call d removed the summaries' gradient in the dk/dv kernel (slower); its sample of the Gluon
# dk/dv kernel at 168 registers a thread (backward.BWD_GLUON_KV_MAXNREG) against 128 was faster at
# Hkv 2 and slower at Hkv 8. Again here: the kernels at 32k, 25% (profile_backward.py), then the
# training step at Hkv 2 in three processes: 128, 168, 128 (cuDNN in each).
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  mkdir -p $OUT/bwd $OUT/train_128a $OUT/train_168 $OUT/train_128b
  env $B timeout 80 python3 scripts/profile_backward.py --shapes 2 --variants default,kv_regs168 \
      --out $OUT/bwd 2>&1 | grep -v -i warn | cut -c1-400
  for run in 128a 168 128b; do
    env $B timeout 70 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k --hkv 2 \
        --backward-setting BWD_GLUON_KV_MAXNREG=${run%[ab]} --out $OUT/train_$run 2>&1 | grep -v -i warn | cut -c1-400
  done
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
