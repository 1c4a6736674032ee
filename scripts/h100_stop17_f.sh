# Issue 3, stop 17, last device call (~4 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop17_f.sh
# The dq kernel at 8 warps (sm_90 cubin: 224 -> 80 B of spill stack a thread at G=4) against 4,
# with either summary-gradient path, at 32k (32/8, 32/2) and 8k (32/8).
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 220 python3 scripts/profile_backward.py --shapes 3 \
      --variants atomics,in-kv,atomics+q8warps,in-kv+q8warps --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
