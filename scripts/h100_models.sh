# Issue 6 on the lent H100: the model tests, `dashbench train` (checkpoints under $OUT/models),
# `dashbench pareto` and `dashbench e2e`. transformers is preinstalled there.
#   DASHBENCH_GIT_COMMIT=<sha> PHASES=tests,train METHODS=dense,dash bash scripts/h100_models.sh
# Results come back as $OUT/h100_models.tgz.
#   PHASES=pareto,e2e MODELS=<dir holding dense/ dash/ nsa/ infllmv2/> bash scripts/h100_models.sh
source scripts/device_setup.sh
PHASES=${PHASES:-tests,train}
METHODS=${METHODS:-dense,dash,nsa,infllmv2}
MODELS=${MODELS:-$OUT/models}
EVAL=${METHODS_EVAL:-dense,dash,nsa,infllmv2}
MODEL_ARGS=$(for m in ${EVAL//,/ }; do echo --model $MODELS/$m; done)
export COLUMNS=200
{
  [[ $PHASES == *tests* ]] && timeout ${TEST_TIMEOUT:-200} python3 -m pytest -q -p no:cacheprovider -p no:warnings tests/models 2>&1 | tail -8
  if [[ $PHASES == *train* ]]; then  # one process per method, side by side on the one GPU
    for m in ${METHODS//,/ }; do
      timeout ${TRAIN_TIMEOUT:-500} dashbench train --methods $m --sparsity ${SPARSITY:-0.75} ${STAGES:+--stages $STAGES} \
          ${MAX_MINUTES:+--max-minutes $MAX_MINUTES} \
          ${INIT_FROM:+--init-from $INIT_FROM} ${LR:+--lr $LR} ${TASKS:+--tasks $TASKS} --out $OUT/models > $OUT/train-$m.txt 2>&1 &
    done
    wait
    for m in ${METHODS//,/ }; do grep -v -i warn $OUT/train-$m.txt | tail -5; done
  fi
  [[ $PHASES == *pareto* ]] && timeout ${PARETO_TIMEOUT:-400} dashbench pareto $MODEL_ARGS \
      --sparsity ${SWEEP:-0.5,0.75,0.9,0.95} --seqlen ${EVAL_SEQLEN:-8k} --examples ${EXAMPLES:-64} --out $OUT/pareto 2>&1 | grep -v -i warn | tail -30
  [[ $PHASES == *e2e* ]] && timeout ${E2E_TIMEOUT:-300} dashbench e2e --model $MODELS/${E2E_MODEL:-dash} --seqlen ${E2E_SEQLEN:-32k,128k} \
      --out $OUT/e2e 2>&1 | grep -v -i warn | tail -20
} 2>&1 | tee $OUT/log.txt
# the lent machine returns at most 8 files of 16 MiB: the weights come back as they are
# ($OUT/models/<method>/model.safetensors), everything else in one tarball
tar -C $OUT -czf /tmp/h100_models.tgz --exclude '*.tgz' --exclude '*.safetensors' . \
  && find $OUT -type f ! -name '*.safetensors' -delete && mv /tmp/h100_models.tgz $OUT/
