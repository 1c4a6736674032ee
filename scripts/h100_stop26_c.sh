# Issue 3, stop 26, call c. ~6 min (limits sum to 340 s).   Carry .whl.
# (Ran at 52c5076: the minspan8 variant and probe_grad_error.py's key names are that commit's.)
# DASHBENCH_GIT_COMMIT=<sha> bash scripts/h100_stop26_c.sh
# 1. Call b's training row at 32k, Hkv 8 measured dq 0.10 and dhead_cls 0.52 against the fp32
#    reference (stop 20: 0.0047 / 0.012; Hkv 2 unchanged at 0.004). probe_grad_error.py on the
#    same inputs under the forward settings changed since stop 20 (warm router tiles at 32k,
#    merged max pass, Gluon attention, stored biases), with the tokens that carry dq's error.
# 2. Decode: attend programs of at least 8 candidate chunks against the default, B=1.
source scripts/device_setup.sh
B="PYTHONPATH=scripts:$PYTHONPATH"
{
  env $B timeout 240 python3 scripts/probe_grad_error.py --seqlen 32k --hkv 8 --out $OUT 2>&1 | grep -v -i warn | cut -c1-1200
  env $B timeout 100 python3 scripts/profile_decode.py --hkv 2,8 --batch 1 --lengths 32k,128k \
      --variants default,minspan8 --out $OUT/profile 2>&1 | grep -v -i warn | cut -c1-600
} 2>&1 | tee $OUT/log.txt
