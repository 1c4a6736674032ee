# Issue 3, last device call of stop 15 (lean router at 64-chunk blocks, attention with its fp32
# routing dot): the prefill table at 32k and 128k (structured 25%/10%, random 25%), the training
# step against cuDNN, then the dash kernel tests. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop15_final.sh
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 120 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 --inputs structured \
      --densities 0.25,0.10 --variants none --out $OUT/structured 2>&1 | grep -v -i warn
  PYTHONPATH=scripts:$PYTHONPATH timeout 120 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 --inputs random \
      --densities 0.25 --variants none --out $OUT/random 2>&1 | grep -v -i warn
  timeout 130 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 8k,32k --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-300
  timeout 200 python3 -m pytest -q -rf -x -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py 2>&1 | tail -4
} 2>&1 | tee $OUT/log.txt
