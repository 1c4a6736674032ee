# The `dashbench kernel` reference suites on the lent H100 (issue 5): run folders under $OUT/suites,
# the console in $OUT/<suite>.log. Plots are redrawn locally with `dashbench report` (the device
# tool does not bring back folders that deep).
#   DASHBENCH_GIT_COMMIT=<sha> SUITES=prefill-long,decode-long bash scripts/h100_kernel_suites.sh
source scripts/device_setup.sh
for suite in ${SUITES//,/ }; do
  COLUMNS=250 timeout ${SUITE_TIMEOUT:-280} dashbench kernel --suite "$suite" --out "$OUT/suites" > "$OUT/$suite.log" 2>&1
  echo "$suite: rc=$? $(grep -c ' OK ' "$OUT/$suite.log") OK"; grep -E "INCORRECT|ERROR|OOM" "$OUT/$suite.log" | head -5
done
