# Issue 3, second device call of the next stop (prepared at stop 15): the backward kernels'
# times per variant (profile_backward.py: summary gradient by atomics or in dk/dv; the routing
# rows in the tensor cores' layout; the score-based routing in the attention and dk/dv kernel).
# ~5 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_next_backward.sh
source scripts/device_setup.sh
{
  PYTHONPATH=scripts:$PYTHONPATH timeout 420 python3 scripts/profile_backward.py --out $OUT 2>&1 | grep -v -i warn
} 2>&1 | tee $OUT/log.txt
