# Issue 3, stop 19, second device call (~6 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop19_a.sh
# 1. The decode attend folding 2 or 4 listed chunks a step: the decode tests (its new test
#    included), then the step profiled against FA3 at 128k, 10%.
# 2. What a router pass costs (solvers capped at k passes) against the product floor.
source scripts/device_setup.sh
{
  timeout 120 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_decode.py 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 240 python3 scripts/profile_decode.py --hkv 2,8 --batch 1,8 \
      --variants default,step2,step2_w8,step4_w8,step2_split64,step4_w8_split64 --out $OUT 2>&1 \
      | grep -v -i warn | python3 -c "
import json, sys
for line in sys.stdin:
    try:
        r = json.loads(line)
    except ValueError:
        print(line.rstrip()[:300]); continue
    if 'dash_graph_ms' in r:
        k = {n.split('_kernel')[0][-12:]: round(v * 1000, 2) for n, v in r['kernels'].items()}
        print(r['hkv'], r['B'], r['variant'], 'graph %.2f us' % (r['dash_graph_ms'] * 1000), 'fa3 %.1f us' % (r['fa3_graph_ms'] * 1000),
              'x%.2f' % r['speedup_graph'], 'err %.1e diff %.1e' % (r['rel_err'], r['diff_vs_default']), k)
    else:
        print(line.rstrip()[:300])
"
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 200 python3 scripts/router_pass_cost.py --seqlen 128k --hkv 2,8 \
      --iters 0,1,2,4 --out $OUT 2>&1 | grep -v -i warn | cut -c1-900
} 2>&1 | tee $OUT/log.txt
