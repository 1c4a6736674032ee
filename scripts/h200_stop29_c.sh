# Issue 3, stop 29, call c. ~4.5 min (limits sum to 300 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop29_c.sh
# 1. GPU test: the Gluon dq kernel against float64 (its second pass now behind a timing switch).
# 2. What the Gluon dq kernel's second pass costs at 32k, 25% (timing only: without its
#    summary-gradient atomics, or without the pass; their gradients are wrong and say so).
# 3. Second samples, in new processes, of call b's rows: decode at 128k, 10% (B = 1 and 8),
#    the training step at 32k, 25%.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_gluon_dq_fp64 60 tests/kernels/dash/test_gluon_bwd_q.py -k "float64"
  mkdir -p $OUT/train $OUT/bwd $OUT/profile
  env $B timeout 70 python3 scripts/profile_backward.py --shapes 2 --variants default,dq_no_atomics,dq_no_second_pass \
      --out $OUT/bwd 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 90 python3 scripts/profile_decode.py --hkv 8,2 --batch 1,8 --lengths 128k \
      --variants default --out $OUT/profile 2>&1 | grep -v -i warn | short_json
  env $B timeout 80 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --out $OUT/train 2>&1 | grep -v -i warn | cut -c1-700
} 2>&1 | tee $OUT/log.txt
