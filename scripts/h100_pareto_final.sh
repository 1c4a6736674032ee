# Issue 6/7 on the lent H100, from the committed dense checkpoint (h100-pareto/scratch-a0f4564/dense, trained from
# scratch by `dashbench train`, see results/reference/h100-pareto/):
#   STEP=finetune: fine-tune dense, dash, nsa and infllmv2 from it at 8k on mqar and niah, side
#                  by side, and dash again with a flat prior (models/dash-flat); then the Pareto
#                  sweep of the five, and of the dense one converted with a flat prior. ~9 min.
#   STEP=extras:   the captured-layer dispersion run to 128k and the GPU model tests. ~5 min.
# Weights come back as $OUT/models/<method>/model.safetensors, the rest in $OUT/results.tgz.
#   DASHBENCH_GIT_COMMIT=<sha> STEP=finetune bash scripts/h100_pareto_final.sh   (carry .whl)
source scripts/device_setup.sh
export COLUMNS=200
INIT=${INIT:-results/reference/h100-pareto/scratch-a0f4564/dense}
{
if [[ $STEP == finetune ]]; then
  for m in dense dash nsa infllmv2; do
    timeout ${TRAIN_TIMEOUT:-360} dashbench train --methods $m --init-from $INIT --tasks mqar,niah \
        --stages ${STAGES:-8kx4x300} --lr ${LR:-3e-4} --max-minutes ${MAX_MINUTES:-5.0} --out $OUT/models \
        > $OUT/train-$m.txt 2>&1 &
  done
  # DashAttention once more with a flat prior (sigma 1e6): on the CPU at 2k it learnt faster
  timeout ${TRAIN_TIMEOUT:-360} dashbench train --methods dash --dash-sigma 1e6 --init-from $INIT --tasks mqar,niah \
      --stages ${STAGES:-8kx4x300} --lr ${LR:-3e-4} --max-minutes ${MAX_MINUTES:-5.0} --out $OUT/flat \
      > $OUT/train-dash-flat.txt 2>&1 &
  wait
  mv $OUT/flat/dash $OUT/models/dash-flat && rmdir $OUT/flat
  for m in dense dash nsa infllmv2 dash-flat; do grep -v -i warn $OUT/train-$m.txt | tail -4; done
  timeout ${PARETO_TIMEOUT:-190} dashbench pareto --model $OUT/models/dense --model $OUT/models/dash \
      --model $OUT/models/nsa --model $OUT/models/infllmv2 --model $OUT/models/dash-flat --dash-sigma 1,1e6 --sparsity 0.5,0.75,0.9,0.95 --seqlen ${EVAL_SEQLEN:-8k} \
      --examples ${EXAMPLES:-32} --out $OUT/pareto 2>&1 | grep -v -i warn | tail -25
  timeout ${CONVERT_TIMEOUT:-60} dashbench pareto --model $INIT --methods dash --dash-sigma 1e6 \
      --sparsity 0.5,0.75,0.9 --seqlen ${EVAL_SEQLEN:-8k} --examples ${EXAMPLES:-32} --out $OUT/pareto-converted 2>&1 \
      | grep -v -i warn | tail -8
fi
if [[ $STEP == extras ]]; then
  timeout ${DISP_TIMEOUT:-180} dashbench dispersion run --model ${DISP_MODEL:-$INIT} --layer 1 --seqlen ${DISP_SEQLEN:-1k..128k} \
      --device ${DEVICE:-cuda} --out $OUT/disp 2>&1 | grep -v -i warn | tail -15
  timeout 60 dashbench dispersion report --runs $OUT/disp $(ls $OUT/disp | head -1) 2>&1 | tail -3
  timeout ${TEST_TIMEOUT:-240} python3 -m pytest -q -p no:cacheprovider -p no:warnings tests/models 2>&1 | tail -8
fi
} 2>&1 | tee $OUT/log.txt
tar -C $OUT -czf /tmp/results.tgz --exclude '*.tgz' --exclude '*.safetensors' . \
  && find $OUT -type f ! -name '*.safetensors' -delete && mv /tmp/results.tgz $OUT/
