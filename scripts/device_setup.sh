# Source this on the lent H100 (no network): installs the carried wheels (.whl/: fa3-fwd,
# entmax, tabulate) into /tmp/site and the project itself, editable, without dependencies.
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
python3 -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -v "^WARNING" || true
export PYTHONUNBUFFERED=1
set +e
