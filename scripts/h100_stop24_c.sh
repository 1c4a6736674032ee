# Issue 3, stop 24 call c. ~8 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop24_c.sh
# 1. GPU tests: test_prior.py whole (call a's 100 s cut it short; LIST_BLOCK 64 since stop 23),
#    and the router's warm-tile, rough-solve and default-resolution tests (bf16 included).
# 2. The prefill's time outside its kernels (scripts/profile_prefill_gaps.py): 32k both Hkv, 128k
#    Hkv 2, structured 25%.
# 3. Warm tiles at 128k, 10%, structured: 1, 2 and 4 (the default) in 5 rotated rounds.
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  timeout 170 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_prior.py 2>&1 | tail -4
  timeout 110 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "warm or default_router or rough" 2>&1 | tail -4
  echo
  env $B timeout 60 python3 scripts/profile_prefill_gaps.py --seqlen 32k --hkv 8,2 --out $OUT/gaps 2>&1 | grep -v -i warn
  env $B timeout 45 python3 scripts/profile_prefill_gaps.py --seqlen 128k --hkv 2 --out $OUT/gaps_128k 2>&1 | grep -v -i warn
  echo
  mkdir -p $OUT/router_128k_10
  env $B timeout 100 python3 scripts/bench_router.py --seqlen 128k --hkv 8,2 --inputs structured \
      --densities 0.1 --rounds 5 --check-against lean_warm1 --variants lean_warm1,lean_warm2,lean_default \
      --out $OUT/router_128k_10 2>&1 | grep -v -i warn | grep -v disagreements | cut -c1-300
} 2>&1 | tee $OUT/log.txt
