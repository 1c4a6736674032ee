# Issue 3, stop 28, call a (the first on an H200: the lent machine changed). ~9 min (limits sum to 530 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop28_a.sh
# (Ran at 8803d70: the transposed Triton dk/dv kernel and its variants were removed after it: slower.)
# 1. The machine: name, memory, clocks, power limit.
# 2. GPU tests of the dk/dv kernel in the transposed order (backward.BWD_KV_TRANSPOSED), bf16 too.
# 3. The backward's kernels at 32k, 25% (Hkv 8 and 2): the default against the transposed
#    dk/dv kernel with pointer loads or descriptors and with the routing dot on the tensor cores.
# 4. The training step at 32k, 25% (the row against cuDNN in the same process): default,
#    then transposed.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem,power.limit,driver_version --format=csv
  gpu_tests test_kvt 110 tests/kernels/dash/test_dash_attention.py tests/kernels/dash/test_block_sparse.py -k "transposed_kv"
  mkdir -p $OUT/bwd $OUT/train_default $OUT/train_kvt
  env $B timeout 220 python3 scripts/profile_backward.py --shapes 2 \
      --variants default,kvt,kvt+tma,kvt+kvmma,kvt+tma+kvmma --out $OUT/bwd 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 100 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --out $OUT/train_default 2>&1 | grep -v -i warn | cut -c1-700
  env $B timeout 100 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k \
      --backward-setting BWD_KV_TRANSPOSED=True --out $OUT/train_kvt 2>&1 | grep -v -i warn | cut -c1-700
} 2>&1 | tee $OUT/log.txt
