# Issue 3, stop 29, call a (prepared at stop 28 as h200_next.sh). ~6 min (limits sum to 330 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop29_a.sh
# 1. The Gluon backward at short and odd lengths (1, 63, 65, 130 tokens) against the Triton one
#    (written after stop 28's last call).
# 2. Decode at 128k, 10%, B=1 on the H200, where Hkv 8 fell to 3.87x FA3 (36.5 us; 4x is 35.4):
#    the attend's stages / programs and the threshold's and merge's settings, timed in one process.
# 3. The training step at 32k, 25% once more (Hkv 8 sat at 2.00x / 2.02x in stop 28's two runs).
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  gpu_tests test_gluon_short 90 tests/kernels/dash/test_gluon_bwd_q.py -k "short"
  mkdir -p $OUT/profile $OUT/train
  env $B timeout 150 python3 scripts/profile_decode.py --hkv 8,2 --batch 1 --lengths 128k \
      --variants default,stages7,stages3,progs528,thr256,thr1024,split64 --out $OUT/profile 2>&1 \
      | grep -v -i warn | short_json
  env $B timeout 90 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k --out $OUT/train 2>&1 \
      | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
