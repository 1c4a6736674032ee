# Issue 6 on the lent H100: the model tests, `dashbench train` (checkpoints under $OUT/models),
# `dashbench pareto` and `dashbench e2e`. transformers is preinstalled there.
#   DASHBENCH_GIT_COMMIT=<sha> PHASES=tests,train METHODS=dense,dash bash scripts/h100_models.sh
#   PHASES=pareto,e2e MODELS=<dir holding dense/ dash/ nsa/ infllmv2/> bash scripts/h100_models.sh
source scripts/device_setup.sh
PHASES=${PHASES:-tests,train}
MODELS=${MODELS:-$OUT/models}
EVAL=${METHODS_EVAL:-dense,dash,nsa,infllmv2}
MODEL_ARGS=$(for m in ${EVAL//,/ }; do echo --model $MODELS/$m; done)
export COLUMNS=200
{
  [[ $PHASES == *tests* ]] && timeout ${TEST_TIMEOUT:-200} python3 -m pytest -q -p no:cacheprovider -p no:warnings tests/models 2>&1 | tail -8
  [[ $PHASES == *train* ]] && timeout ${TRAIN_TIMEOUT:-500} dashbench train --methods ${METHODS:-dense,dash,nsa,infllmv2} \
      --sparsity ${SPARSITY:-0.75} ${STAGES:+--stages $STAGES} ${MAX_MINUTES:+--max-minutes $MAX_MINUTES} --out $OUT/models 2>&1 | grep -v -i warn | tail -30
  [[ $PHASES == *pareto* ]] && timeout ${PARETO_TIMEOUT:-400} dashbench pareto $MODEL_ARGS \
      --sparsity ${SWEEP:-0.5,0.75,0.9,0.95} --seqlen ${EVAL_SEQLEN:-8k} --examples ${EXAMPLES:-64} --out $OUT/pareto 2>&1 | grep -v -i warn | tail -30
  [[ $PHASES == *e2e* ]] && timeout ${E2E_TIMEOUT:-300} dashbench e2e --model $MODELS/${E2E_MODEL:-dash} --seqlen ${E2E_SEQLEN:-32k,128k} \
      --out $OUT/e2e 2>&1 | grep -v -i warn | tail -20
} 2>&1 | tee $OUT/log.txt
