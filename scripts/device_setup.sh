# Source this on the lent GPU machine (H100 to stop 27, H200 since; no network): installs the carried wheels (.whl/: fa3-fwd,
# entmax, tabulate) into /tmp/site and the project itself, editable, without dependencies.
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
python3 -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -v "^WARNING" || true
export PYTHONUNBUFFERED=1
set +e

# short_json: each JSON line of a bench's output as a dict with floats to 5 places (its
# "settings" left out); other lines cut to 300 characters.
short_json() {
  python3 -c "
import sys, json
for line in sys.stdin:
    try:
        r = json.loads(line)
        print({k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items() if k not in ('settings',)})
    except Exception:
        print(line.rstrip()[:300])"
}

# gpu_tests NAME LIMIT_S PYTEST_ARGS...: pytest -v into $OUT/NAME.txt (a run cut by its limit
# still shows which cases passed), then one summary line and any failures.
gpu_tests() {
  local name=$1 limit=$2; shift 2
  timeout "$limit" python3 -m pytest -v -rf -p no:cacheprovider -p no:warnings "$@" > "$OUT/$name.txt" 2>&1
  echo "$name: $(grep -c PASSED "$OUT/$name.txt") passed, $(grep -c FAILED "$OUT/$name.txt") failed"
  grep -E "FAILED|[0-9]+ passed" "$OUT/$name.txt" | tail -5
}
