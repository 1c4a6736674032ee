# Issue 3, fourth device call of stop 15: where the 32k, 32/8 training gradient error (dq 0.44
# against the fp32 reference at 2705ddf, 0.005 at b806f17) comes from, per router and summary-
# gradient path; the lean router's block size at 128k; the dash kernel tests. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_grad_probe.sh
source scripts/device_setup.sh
{
  timeout 200 python3 scripts/probe_grad_error.py --seqlen 32k --hkv 8 --out $OUT 2>&1 | grep -v -i warn
  PYTHONPATH=scripts:$PYTHONPATH timeout 100 python3 scripts/bench_router.py --seqlen 128k --hkv 8,2 --densities 0.25 \
      --variants lean_default,lean_cb64_w4_s2,lean_cb64_w4_s3,lean_cb128_w4_s2 --out $OUT 2>&1 | grep -v -i warn | cut -c1-600
  timeout 260 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_dash_attention.py 2>&1 | tail -8
} 2>&1 | tee $OUT/log.txt
