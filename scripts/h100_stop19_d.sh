# Issue 3, stop 19, last device call (~3 min). Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop19_d.sh
# The transposed final router pass (now the default): its bf16 GPU tests (dtype2), then the prefill with
# it off and on in one process beside FA3 (32k, structured, 25%).
source scripts/device_setup.sh
{
  timeout 75 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py \
      -k "transposed_final and dtype2" 2>&1 | tail -4
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 90 python3 scripts/e2e_route_setting.py --setting ROUTE_FINAL_TRANSPOSED \
      --seqlen 32k --hkv 2,8 --out $OUT 2>&1 | grep -v -i warn | cut -c1-400
} 2>&1 | tee $OUT/log.txt
