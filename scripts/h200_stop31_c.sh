# Issue 3, stop 31 call c. ~8 min (limits sum to 510 s).   Carry .whl.
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h200_stop31_c.sh
# Call b: the sample start everywhere was much faster at 10% (structured) and slower on random
# inputs. Now it falls back to the default start where the sample's supports hold fewer than
# route.SAMPLE_MIN_SUPPORT (3) entries a row (random inputs: 1-2):
# 1. GPU tests of the sample start (bf16), with the fallback's bit-for-bit check;
# 2. the router alone: default / sample with fallback / sample everywhere / default again,
#    3 rotated rounds, checked against the default; 128k and 32k, structured and random;
# 3. end to end at 128k, structured, 3 rotated rounds against the default (outputs checked).
source scripts/device_setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > $OUT/smi.csv &
B="PYTHONPATH=scripts:$PYTHONPATH"
V="--variants lean_default,lean_sample,lean_sample_all,lean_default_again --check-against lean_default --rounds 3"
{
  gpu_tests test_sample 100 tests/kernels/dash/test_dash_attention.py -k "sample_started and bfloat16"
  env $B timeout 150 python3 scripts/bench_router.py --seqlen 128k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 $V --out $OUT/router_128k 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 70 python3 scripts/bench_router.py --seqlen 32k --hkv 8,2 --inputs structured,random \
      --densities 0.25,0.1 $V --out $OUT/router_32k 2>&1 | grep -v -i warn | cut -c1-500
  env $B timeout 190 python3 scripts/bench_dash.py --seqlen 128k --hkv 2,8 --inputs structured \
      --densities 0.25,0.1 --variants none --rounds 3 --rounds-against route.ROUTE_SAMPLE_START=True \
      --out $OUT/e2e_128k 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
kill %1 2>/dev/null
