# Issue 3/4, stop 17: InfLLMv2's prefill at 128k after the block-sparse kernel took its own block
# last at 3 stages (~3 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop17_g.sh
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 240 python3 scripts/bench_infllmv2.py --seqlen 128k --hkv 2,8 --inputs structured \
      --sparsity 0.75,0.9 --skip train,decode --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
