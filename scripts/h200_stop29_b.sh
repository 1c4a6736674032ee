# Issue 3, stop 29, call b. ~5.5 min (limits sum to 330 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop29_b.sh
# 1. GPU tests: stage 1's fused backward (summarize.summarize_backward), the gradients of
#    dash_attention through it (float64 reference, half precision, the Gluon backward files'
#    fp64 and short cases), the decode file (the attend's states stored for the G real rows only).
# 2. The training step at 32k, 25% with the fused stage-1 backward (cuDNN in the same process).
# 3. The step's kernels at 32k (what PyTorch work is left).
# 4. Decode at 128k, 10%, B=1 and 8 (cold graph replays against FA3 in the same process).
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_summarize 40 tests/kernels/dash/test_summarize.py
  gpu_tests test_grads 110 tests/kernels/dash/test_dash_attention.py tests/kernels/dash/test_gluon_bwd_kv.py \
      tests/kernels/dash/test_gluon_bwd_q.py -k "float64 or half_precision_gradients or short"
  gpu_tests test_decode 50 tests/kernels/dash/test_decode.py
  mkdir -p $OUT/train $OUT/bwd $OUT/profile
  env $B timeout 80 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --out $OUT/train 2>&1 | grep -v -i warn | cut -c1-700
  env $B timeout 60 python3 scripts/profile_backward.py --shapes 2 --variants default \
      --out $OUT/bwd 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 90 python3 scripts/profile_decode.py --hkv 8,2 --batch 1,8 --lengths 128k \
      --variants default --out $OUT/profile 2>&1 | grep -v -i warn | short_json
} 2>&1 | tee $OUT/log.txt
