# Issue 3, first device call of the next stop (prepared at stop 21). ~6 min. Carry .whl.
#   DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop22_a.sh
# FA3's ping-pong for the Gluon attention with the turn handed over after the QKᵀ's wait, so
# that each warpgroup's softmax stays between its two waits (stop 21's call j handed it over
# right after the issue; ptxas then ran the softmax after the PV's wait and it timed 82.4 vs
# 76.1 ms for gluon_attend). Its GPU tests against attend, then its time beside attend and
# gluon_attend in one process (32k and 128k, structured 25%). Also the Gluon attention over two
# sequences (dash_attention runs it for one until this passes: lift use_gluon_attend's B == 1),
# and gluon_ws_attend (a producer warp issues the K/V loads: 318 instructions a warp per chunk
# against 382, two CTAs an SM at 128 registers launched, 232 for the consumer), and the Gluon
# attention over fp32 biases (fp16 inputs; use_gluon_attend takes fp16 biases until it passes),
# and the gradients through the Gluon forward against those through the Triton one.
# Last, where the
# 3-6 ms go that dash_attention takes beyond its stages since the Gluon attention
# (scripts/probe_prefill_gap.py: host time of each call, profiler gaps).
source scripts/device_setup.sh
{
  timeout 150 python3 -m pytest -q -rf -p no:cacheprovider -p no:warnings tests/kernels/dash/test_gluon_attend.py \
      tests/kernels/dash/test_gluon_pingpong_attend.py tests/kernels/dash/test_gluon_ws_attend.py \
      -k "pingpong or two_sequences or ws or fp32 or gradients" 2>&1 | tail -6
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 150 python3 scripts/bench_dash.py --seqlen 32k,128k --hkv 8,2 \
      --inputs structured --densities 0.25 --variants pingpong,ws --out $OUT 2>&1 | grep -v -i warn | cut -c1-1500
  echo
  PYTHONPATH=scripts:$PYTHONPATH timeout 120 python3 scripts/probe_prefill_gap.py --seqlen 128k --hkv 8 2>&1 \
      | grep -v -i warn | tail -45
} 2>&1 | tee $OUT/log.txt
