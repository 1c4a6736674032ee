# The dense reference sweep of the foundation issue, on the lent H100. Writes everything to
# $OUT/h100-dense.tgz (run folders, env, cross-check) plus $OUT/log.txt.
#   usage (device tool, carrying .whl): DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_dense.sh
source scripts/device_setup.sh
O=/tmp/h100-dense; rm -rf $O; mkdir -p $O/runs
SHAPE="--heads 32/8 --head-dim 128 --dtype bf16"
PROVIDERS="--providers fa3,cudnn,sdpa-flash,flex,reference"
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv
  dashbench env --json > $O/env.json
  dashbench env
  dashbench kernel --seqlen 8k,32k,128k $SHAPE --mode fwd $PROVIDERS --out $O/runs
  dashbench kernel --seqlen 8k,32k,128k --batch 1,8 $SHAPE --mode decode $PROVIDERS --out $O/runs
  dashbench kernel --seqlen 8k,32k,128k --batch 1,8 $SHAPE --mode decode $PROVIDERS --cuda-graph --out $O/runs
  python3 scripts/crosscheck_sdpa.py --seqlen 8k,32k,128k --out $O
} 2>&1 | tee $OUT/log.txt
tar czf $OUT/h100-dense.tgz -C $O .
