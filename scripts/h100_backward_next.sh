# Issue 3's next device call, ready at 6f6b405 (see kernels/README.md, "Status and next steps"):
# the GPU test that an autocast training step runs the kernels (added after the last device call
# of stop 14), the backward variants' per-kernel times (profile_backward.py: atomics / in dk/dv /
# in dk/dv + one-pass dq), then the training step against cuDNN. ~6 min.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_backward_next.sh      (carry .whl)
source scripts/device_setup.sh
{
  timeout 150 python3 -m pytest -q -p no:cacheprovider -p no:warnings tests/models/test_model_attention_gpu.py 2>&1 | tail -4
  PYTHONPATH=scripts:$PYTHONPATH timeout 180 python3 scripts/profile_backward.py --out $OUT 2>&1 | grep -v -i warn
  timeout 150 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 8k,32k --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
