# Issue 3, stop 33 call d: a timing proxy for token grouping (scripts/proxy_grouped_unions.py):
# the default Gluon attention over the lists that tiles of tokens grouped by the min-hash of
# their routing (1024-token windows) would have, against today's lists, 3 rotated rounds. Not a
# correct attention (rows still read as consecutive tokens): the work only. ~4 min.
# Carry the three device wheels. DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop33_d.sh
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  env $B timeout 300 python3 scripts/proxy_grouped_unions.py --seqlen 128k --hkv 8,2 --densities 0.25,0.1 \
      --out $OUT/proxy_128k 2>&1 | grep -v -i warn | cut -c1-700
  env $B timeout 90 python3 scripts/proxy_grouped_unions.py --seqlen 32k --hkv 8 --densities 0.25 \
      --out $OUT/proxy_32k 2>&1 | grep -v -i warn | cut -c1-700
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
