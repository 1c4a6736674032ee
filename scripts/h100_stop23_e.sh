# Issue 3, stop 23 call e. ~2 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop23_e.sh
# The stored-bias kernel's list block (prior.LIST_BLOCK, never tuned): 32 (the default, mma.sync)
# against 64 (wgmma), checked then timed in rotated rounds, 128k, structured 25% and 10%.
source scripts/device_setup.sh
PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/bench_listed_bias.py --seqlen 128k --hkv 8,2 \
    --densities 0.25,0.1 --blocks 32,64 --out $OUT 2>&1 | grep -v -i warn | cut -c1-500 | tee $OUT/log.txt
