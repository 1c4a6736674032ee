# Issue 3, stop 26, call b. ~9.5 min (limits sum to 560 s).   Carry .whl.
# (Ran at 6ea2cc5: its profile_decode.py variants and key names are that commit's.)
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop26_b.sh
# 1. Decode: the new attend defaults (1056 programs, 5 stages) against stop 25's (528, 3) in one
#    process, 32k and 128k, at the decoded row's 10% and cold reads; then the decode table.
# 2. What stop 25 left (prepared as h100_next.sh): the training step at 32k, 25%; the 128k random
#    row at Hkv 8; 8 warm router tiles against 4 at 32k, 25% in rounds.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  mkdir -p $OUT/profile $OUT/decode $OUT/train
  env $B timeout 160 python3 scripts/profile_decode.py --hkv 2,8 --batch 1,8 --lengths 32k,128k \
      --variants default,stop25 --out $OUT/profile 2>&1 | grep -v -i warn | short_json
  env $B timeout 100 python3 scripts/bench_dash_bwd_decode.py --skip train --decode-len 32k,128k --out $OUT/decode 2>&1 \
      | grep -v -i warn | cut -c1-700
  env $B timeout 150 python3 scripts/bench_dash_bwd_decode.py --skip decode --train-seqlen 32k --out $OUT/train 2>&1 \
      | grep -v -i warn | cut -c1-400
  env $B timeout 90 python3 scripts/bench_dash.py --seqlen 128k --hkv 8 --inputs random --densities 0.25 \
      --variants none --rounds 3 --out $OUT/e2e_128k_random 2>&1 | grep -v -i warn | cut -c1-300
  env $B timeout 60 python3 scripts/bench_dash.py --seqlen 32k --hkv 2,8 --inputs structured --densities 0.25 \
      --variants none --rounds 7 --rounds-against route.ROUTE_WARM_TILES=8 --out $OUT/e2e_32k 2>&1 \
      | grep -v -i warn | cut -c1-300
} 2>&1 | tee $OUT/log.txt
