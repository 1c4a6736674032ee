# Issue 3, stop 20, sixth device call (~6 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop20_f.sh
# With the fp16 stored biases (the default): the forward's GPU tests (the stored path is what
# dash_attention now runs), random inputs at 128k (Hkv 2, where they fit; Hkv 8 recomputes, as
# in h100_stop20_d.sh), and the training step at 8k and 32k, 25%, against cuDNN.
source scripts/device_setup.sh
{
  timeout 200 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "forward or structured_inputs or strided or diagonal or tma_path" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 120 python3 scripts/bench_dash.py --seqlen 128k --hkv 2 \
      --inputs random --densities 0.25,0.10 --variants none --out $OUT/random 2>&1 | grep -v -i warn | cut -c1-600
  echo
  timeout 150 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 8k,32k --out $OUT 2>&1 \
      | grep -v -i warn | cut -c1-420
} 2>&1 | tee $OUT/log.txt
