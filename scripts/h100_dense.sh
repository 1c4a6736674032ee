# The dense reference sweep of the foundation issue, on the lent H100. Everything lands in
# /tmp/h100-dense (run folders, env, cross-check, log) and then /tmp/h100-dense.tgz; it takes
# about 10 minutes, so start it detached and collect the tarball in a later call:
#   DASHBENCH_GIT_COMMIT=<sha> setsid nohup bash scripts/h100_dense.sh >/dev/null 2>&1 &
source scripts/device_setup.sh
O=/tmp/h100-dense; rm -rf $O /tmp/h100-dense.tgz; mkdir -p $O/runs
SHAPE="--heads 32/8 --head-dim 128 --dtype bf16"
FAST="--providers fa3,cudnn,sdpa-flash,flex"
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv
  dashbench env --json > $O/env.json
  dashbench env
  dashbench kernel --seqlen 8k,32k,128k $SHAPE --mode fwd $FAST --out $O/runs
  # The fp32 reference needs ~8 s a call at 128k and ~10 calls a case: run where it fits.
  dashbench kernel --seqlen 8k,32k $SHAPE --mode fwd --providers reference --out $O/runs
  dashbench kernel --seqlen 8k,32k,128k --batch 1,8 $SHAPE --mode decode $FAST,reference --out $O/runs
  dashbench kernel --seqlen 8k,32k,128k --batch 1,8 $SHAPE --mode decode $FAST --cuda-graph --out $O/runs
  dashbench kernel --seqlen 8k,32k $SHAPE --mode fwd+bwd --providers cudnn,sdpa-flash,flex --out $O/runs
  python3 scripts/crosscheck_sdpa.py --seqlen 8k,32k,128k --out $O
  echo ALL-DONE
} > $O/log.txt 2>&1
tar czf /tmp/h100-dense.tgz -C $O .
