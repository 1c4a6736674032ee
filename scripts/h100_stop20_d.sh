# Issue 3, stop 20, fourth device call (~5 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop20_d.sh
# With the stored biases: random (incoherent) inputs end to end at 128k, 25% and 10% (last timed
# at stop 15), beside FA3; the training step at 8k and 32k, 25%, against cuDNN.
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 240 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 \
      --inputs random --densities 0.25,0.10 --variants none --out $OUT/random 2>&1 | grep -v -i warn | cut -c1-600
  echo
  timeout 150 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 8k,32k --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-420
} 2>&1 | tee $OUT/log.txt
