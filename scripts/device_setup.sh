# Source this on the lent H100 (no network): installs the carried wheels (.whl/: fa3-fwd,
# entmax, tabulate) into /tmp/site and the project itself, editable, without dependencies.
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
python3 -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -v "^WARNING" || true
export PYTHONUNBUFFERED=1
set +e

# gpu_tests NAME LIMIT_S PYTEST_ARGS...: pytest -v into $OUT/NAME.txt (a run cut by its limit
# still shows which cases passed), then one summary line and any failures.
gpu_tests() {
  local name=$1 limit=$2; shift 2
  timeout "$limit" python3 -m pytest -v -rf -p no:cacheprovider -p no:warnings "$@" > "$OUT/$name.txt" 2>&1
  echo "$name: $(grep -c PASSED "$OUT/$name.txt") passed, $(grep -c FAILED "$OUT/$name.txt") failed"
  grep -E "FAILED|[0-9]+ passed" "$OUT/$name.txt" | tail -5
}
