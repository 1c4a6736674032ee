# Issue 3, stop 33 call e: which grouping key a router could compute cheaply (CPU-sized simulation
# run on the GPU at 128k: scripts/simulate_token_grouping.py --device cuda). Computed / routed
# pairs of 16-token tiles (Hkv 8; 4 tokens at Hkv 2) grouped within 256- and 1024-token windows by
# the min-hash of the routed chunks, of the chunks above the router's sample start, and of the
# routed chunks among the 64 sampled ones. ~3 min. Carry the three device wheels.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop33_e.sh
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  for h in 8 2; do
    env $B timeout 150 python3 scripts/simulate_token_grouping.py --device cuda --seqlen 131072 --hkv $h \
        --sample-windows 16 --windows 256,1024 --orders position,minhash,minhash_start,minhash_sampled \
        2>&1 | grep -v -i warn | cut -c1-400
  done
} 2>&1 | tee $OUT/log.txt
