# Issue 6 recipe probes on the lent H100: several dense `dashbench train` runs at once on the one
# GPU (tiny models leave it mostly idle), each a variant of the recipe, each then evaluated at 8k.
# The GPU model tests run beside them. Logs and train logs come back in $OUT/probes.tgz.
#   DASHBENCH_GIT_COMMIT=<sha> PROBES="l4-copy:4:copy,mqar,niah l2-spans:2:spans,mqar,niah" \
#       MAX_MINUTES=7 bash scripts/h100_recipe_probe.sh
source scripts/device_setup.sh
export COLUMNS=200
PROBES=${PROBES:-"l4-copy:4:copy,mqar,niah l2-copy:2:copy,mqar,niah l4-spans:4:spans,mqar,niah l2-spans:2:spans,mqar,niah"}
for p in $PROBES; do
  IFS=: read name layers tasks <<< "$p"
  ( timeout ${TRAIN_TIMEOUT:-480} dashbench train --methods ${METHOD:-dense} --layers $layers --tasks $tasks \
      ${STAGES:+--stages $STAGES} ${MAX_MINUTES:+--max-minutes $MAX_MINUTES} --out $OUT/p-$name > $OUT/p-$name.train.txt 2>&1
    timeout 150 dashbench pareto --model $OUT/p-$name/${METHOD:-dense} --seqlen 8k --examples ${EXAMPLES:-32} \
      --out /tmp/pareto-$name > $OUT/p-$name.eval.txt 2>&1
    cp /tmp/pareto-$name/*/*.csv $OUT/p-$name/ 2>/dev/null
    rm -f $OUT/p-$name/*/model.safetensors ) &
done
[[ -n $GPU_TESTS ]] && timeout 300 python3 -m pytest -q -p no:cacheprovider -p no:warnings tests/models > $OUT/gpu-tests.txt 2>&1 &
wait
for p in $PROBES; do n=${p%%:*}; echo "== $n"; grep -v -i warn $OUT/p-$n.train.txt | tail -6; tail -12 $OUT/p-$n.eval.txt; done
[[ -n $GPU_TESTS ]] && tail -15 $OUT/gpu-tests.txt
# the lent machine returns at most 8 files: everything but the weights in one tarball
tar -C $OUT -czf /tmp/probes.tgz --exclude '*.tgz' --exclude '*.safetensors' . \
  && find $OUT -mindepth 1 -delete && mv /tmp/probes.tgz $OUT/
