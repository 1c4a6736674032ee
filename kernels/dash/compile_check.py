"""Compile every Triton kernel (DashAttention, the shared block-sparse attention, InfLLMv2) for an H100 (sm_90) on any machine, GPU or not.

The CPU interpreter runs kernels as Python and so accepts code that the compiler rejects
(loop-carried types, branches, integer arguments that Triton turns into constants when they
equal 1). This compiles each kernel ahead of time for ``GPUTarget("cuda", 90, 32)`` with the
signatures the launchers use, and reports the first error of each.

    python -m dashbench.kernels.dash.compile_check      (without TRITON_INTERPRET set)
    python -m dashbench.kernels.dash.compile_check --resources   (also registers, spill stack and
                                                                  shared memory of each cubin)
    ... --only=decode       (the cases whose name contains "decode")
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from dashbench.kernels.dash import attend, backward, block_decode, decode_kernels, route, summarize
from dashbench.kernels.dash import prior as prior_module
from dashbench.kernels.infllmv2 import stage1, topk

TARGET = GPUTarget("cuda", 90, 32)
SM90_SHARED = 232448  # bytes of shared memory a CTA may use on an H100


def compile_kernel(fn, types: dict, constexprs: dict, ones: tuple = (), num_warps: int = 4,
                   num_stages: int | None = None):
    """``types``: the type of each runtime argument; arguments named in ``ones`` are compiled as
    the constant 1, as Triton specializes them when a launch passes 1."""
    sig = {}
    consts = dict(constexprs)
    for name in fn.arg_names:
        if name in constexprs or name in ones:
            sig[name] = "constexpr"
            if name in ones:
                consts[name] = 1
        else:
            sig[name] = types.get(name, "i32")
    # A launch specializes pointers (torch's allocations) and integers that are multiples of 16
    # (the strides of head-dim-64/128 tensors) as 16-divisible; without these hints loads are
    # not vectorized, nothing is pipelined and registers and shared memory differ from the GPU's.
    attrs = {(i,): [["tt.divisibility", 16]] for i, name in enumerate(fn.arg_names)
             if sig[name].startswith("*") or (name.startswith("stride") and sig[name] == "i32")}
    return triton.compile(ASTSource(fn=fn, signature=sig, constexprs=consts, attrs=attrs), target=TARGET,
                          options={"num_warps": num_warps, **({} if num_stages is None else {"num_stages": num_stages})})


def pointer_types(fn, dtype: str, overrides: dict) -> dict:
    out = {}
    for name in fn.arg_names:
        if name.isupper() and name != "N" and name not in overrides:  # N is the length
            out[name] = f"*{dtype}"
    out.update(overrides)
    return out


FLOATS = {"xscale": "fp32", "sm_scale": "fp32", "inv_sigma": "fp32", "scale": "fp32"}


SHAPES = ((4, 128), (16, 128), (3, 64), (1, 64))  # (GQA ratio, head dim)


def cases(shapes=SHAPES):
    for G, D in shapes:
        GP = triton.next_power_of_2(G)
        C = 64
        bm = route.tile_rows(G, C, 64)
        rbm = route.tile_rows(G, C, 128)
        yield ("summarize", summarize._summarize_kernel,
               pointer_types(summarize._summarize_kernel, "bf16", {"S": "*fp32", **FLOATS}),
               dict(HKV=8, C=C, D=D), ())
        yield ("summarize_backward", summarize._summarize_backward_kernel,
               pointer_types(summarize._summarize_backward_kernel, "bf16",
                             {n: "*fp32" for n in ("DS", "DK_IN", "DV_IN", "DW")} | FLOATS),
               dict(HKV=8, C=C, D=D), ())
        i32 = {n: "*i32" for n in ("COUNT", "MASK", "TILE_COUNT", "CNT", "OFFSETS", "COUNTS", "IDS",
                                   "T_OFFSETS", "T_COUNTS", "T_TILES", "LIST", "NLIST")}
        f32 = {n: "*fp32" for n in ("S", "TAU", "LOGG", "LSE", "DELTA", "DQ", "DSUM", "DK", "DV", "X",
                                    "M_OUT", "L_OUT", "ACC_OUT", "M_IN", "L_IN", "ACC_IN", "LOGP", "KROW", "BMEAN",
                                    "BIAS")}
        over = {**i32, **f32, **FLOATS, "OFFSETS": "*i64", "T_OFFSETS": "*i64", "TOKMASK": "*i64", "T_WORDS": "*i64",
                "DPT": "*fp32"}
        common = dict(HKV=8, G=G, GP=GP, C=C, D=D)
        for split, cb in ((True, route.CB), (False, route.CB), (True, 2 * route.CB)):
            yield (f"route G={G} bf16split={split} cb={cb}", route._route_kernel,
                   pointer_types(route._route_kernel, "bf16" if split else "fp16", over),
                   dict(**common, BM=rbm, CB=cb, SPLIT_BF16=split, SUB=rbm // bm), ())
            # Every launch setting for the default operand (bf16 split, 64-chunk blocks); for the
            # others the defaults below and from 1024 chunks (compiles dominate the CI test's time).
            default_operand = split and cb == 2 * route.CB
            for rough, tiles, final_t, merged, adaptive, sample, chunks in ((
                    (False, 1, False, False, False, False, 64), (True, 1, False, False, False, False, 64),
                    (True, 4, False, False, False, False, 64), (True, 1, True, False, False, False, 64),
                    (False, 4, True, False, False, False, 64), (True, 1, True, True, False, False, 64),
                    (False, 1, True, True, False, False, 64), (True, 4, True, True, False, False, 64),
                    (True, 4, True, True, True, False, 64), (False, 4, True, False, True, False, 64),
                    (True, 4, True, True, False, True, 64), (False, 4, True, False, True, True, 64),
                    (False, 4, True, False, False, True, 128)) if default_operand else (
                    (False, 4, True, False, False, False, 64), (False, 4, True, False, False, True, 64))):  # fmt: skip
                yield (f"route_lean G={G} bf16split={split} cb={cb} rough={rough} warm_tiles={tiles} "
                       f"final_transposed={final_t} merged_max={merged} adaptive_warm={adaptive} "
                       f"longest_first={adaptive} sample_start={sample} sample_chunks={chunks}",
                       route._route_lean_kernel, pointer_types(route._route_lean_kernel, "bf16" if split else "fp16",
                                                               {**over, "S": "*bf16" if split else "*fp32"}),
                       dict(**common, BM=rbm, CB=cb, SPLIT_BF16=split, SUB=rbm // bm, ROUGH_SOLVE=rough,
                            TILES=tiles, FINAL_TRANSPOSED=final_t, MERGED_MAX=merged, ADAPTIVE_WARM=adaptive,
                            LONGEST_FIRST=adaptive, SAMPLE_START=sample, SAMPLE_CHUNKS=chunks), ())
        yield ("expand", route._expand_kernel, {"MASK": "*i32", "OFFSETS": "*i64", "LIST": "*i32"},
               dict(WB=route.EXPAND_WORDS), ())
        # PRIOR=False: the block-sparse attention without the prior (InfLLMv2, NSA selection)
        for est, prior in ((True, True), (False, True), (True, False)):
            for tma in (False, True):
                # (stored biases: fp32, or fp16 read as int32 pairs)
                for mma_rows, last, stored, half in ((False, False, False, False), (True, False, False, False),
                                                     (False, True, False, False), (False, False, True, False),
                                                     (False, True, True, False), (False, True, True, True)) if prior \
                        else ((False, False, False, False), (False, True, False, False)):  # fmt: skip
                    yield (f"attend G={G} est={est} prior={prior} tma={tma} mma_rows={mma_rows} diagonal_last={last} "
                           f"stored_bias={stored} half_bias={half}",
                           attend._attend_fwd_kernel,
                           pointer_types(attend._attend_fwd_kernel, "bf16", {**over, "BIAS": "*i32" if half else "*fp32"}),
                           dict(**common, BM=bm, ESTIMATE_DIAGONAL=est, TMA=tma, PRIOR=prior,
                                ROUTE_MMA_LAYOUT=mma_rows, DIAGONAL_LAST=last, STORED_BIAS=stored, HALF_BIAS=half), ())
            if prior:
                for split in (True, False):
                    yield (f"listed_bias G={G} est={est} bf16split={split} longest_first={split} expand={split}",
                           prior_module._listed_bias_kernel,
                           pointer_types(prior_module._listed_bias_kernel, "bf16" if split else "fp16",
                                         {**over, "S": "*bf16" if split else "*fp32", "BIAS": "*fp16"}),
                           dict(HKV=8, G=G, GP=GP, BM=bm, D=D, LB=prior_module.LIST_BLOCK, SPLIT_BF16=split,
                                ESTIMATE_DIAGONAL=est, LONGEST_FIRST=split, EXPAND=split, WB=route.EXPAND_WORDS), (),
                           4 if split or D < 128 else 8)
            for tma in (False, True):
                # (summary gradient in dk/dv, one-pass dq, mma-layout rows, the JVP's terms
                # deferred); the default is the first: by atomics, two passes, mma rows, deferred.
                # In dk/dv only where G <= 8.
                defaults = ((False, False, True, True), (False, False, True, False))
                others = ((False, False, False, False), (True, False, False, False), (True, True, False, False))
                q_variants = (defaults + (others if not tma else ())) if prior else ((False, False, False, False),)
                for in_kv, one_pass, mma_rows, deferred in q_variants:
                    if in_kv and G > 8:
                        continue
                    yield (f"bwd_q G={G} est={est} prior={prior} tma={tma} in_kv={in_kv} one_pass={one_pass} "
                           f"mma_rows={mma_rows} deferred={deferred}",
                           backward._bwd_q_kernel, pointer_types(backward._bwd_q_kernel, "bf16", over),
                           dict(**common, BM=bm, ESTIMATE_DIAGONAL=est, TMA=tma, PRIOR=prior,
                                SUMMARY_IN_KV=in_kv, ONE_PASS=one_pass, ROUTE_MMA_LAYOUT=mma_rows,
                                ATOMIC_SEM="relaxed" if backward.BWD_RELAXED_ATOMICS else "acq_rel",
                                DEFERRED=deferred),
                           (), backward.BWD_Q_WARPS)
                kv_variants = ((False, False), (False, True), (True, False)) if prior else ((False, False),)
                for in_kv, route_mma in kv_variants:
                    if in_kv and G > 8:
                        continue
                    yield (f"bwd_kv G={G} est={est} prior={prior} tma={tma} in_kv={in_kv} route_mma={route_mma}",
                           backward._bwd_kv_kernel, pointer_types(backward._bwd_kv_kernel, "bf16", over),
                           dict(**common, BM=bm, ESTIMATE_DIAGONAL=est, TMA=tma, PRIOR=prior,
                                SUMMARY_IN_KV=in_kv, ROUTE_MMA=route_mma),
                           (), backward.BWD_KV_WARPS)
        yield (f"infllmv2 block scores fp32 G={G}", stage1._block_scores_kernel,
               pointer_types(stage1._block_scores_kernel, "fp32", {"sm_scale": "fp32"}),
               dict(HKV=2, G=G, GP=GP, BM=max(1, 64 // GP), D=D, BLOCK=64, KSTRIDE=16, KSIZE=32, RATIO=4,
                    JB=stage1.JB, INIT=1, LOCAL=16, SPLIT=False, SUM=False), ())
        yield (f"infllmv2 block scores G={G}", stage1._block_scores_kernel,
               pointer_types(stage1._block_scores_kernel, "bf16", {"OUT": "*fp32", "sm_scale": "fp32"}),
               dict(HKV=2, G=G, GP=GP, BM=max(1, stage1.default_rows(G) // GP), D=D, BLOCK=64, KSTRIDE=16, KSIZE=32, RATIO=4, JB=stage1.JB,
                    INIT=1, LOCAL=16, SPLIT=True, SUM=False), ())
        yield (f"nsa block scores (sum) G={G}", stage1._block_scores_kernel,
               pointer_types(stage1._block_scores_kernel, "bf16", {"OUT": "*fp32", "sm_scale": "fp32"}),
               dict(HKV=2, G=G, GP=GP, BM=max(1, stage1.default_rows(G) // GP), D=D, BLOCK=64, KSTRIDE=16,
                    KSIZE=32, RATIO=4, JB=stage1.JB, INIT=1, LOCAL=1, SPLIT=True, SUM=True), ())
        RP = max(16, GP)
        yield ("infllmv2 topk NB=2048", topk._topk_kernel, {"SCORES": "*fp32", "OUT": "*i32"},
               dict(RB=2, NB=2048, KP=256), ())
        yield (f"block decode G={G}", block_decode._block_decode_kernel,
               pointer_types(block_decode._block_decode_kernel, "bf16", {**over, "NCNT": "*i32"}),
               dict(HKV=2, G=G, RP=RP, C=C, D=D), ())
        yield (f"decode_scores G={G}", decode_kernels._decode_scores_kernel,
               pointer_types(decode_kernels._decode_scores_kernel, "bf16", over),
               dict(HKV=8, G=G, RP=RP, D=D, CB=route.CB, SPLIT_BF16=True), ())
        for ones, n_cand in (((), 1 << 20), (("n_cand",), 1), ((), 2047)):
            blk, resident, warps = decode_kernels.threshold_config(n_cand)
            for lean in (False, True):
                yield (f"decode_threshold G={G} ones={ones} resident={resident} lean={lean}",
                       decode_kernels._decode_threshold_kernel,
                       pointer_types(decode_kernels._decode_threshold_kernel, "fp32", over),
                       dict(G=G, RP=RP, BLK=blk, RESIDENT=resident, LEAN=lean), ones, warps)
        for ones, span in (((), 32), (("n_keys", "n_split"), 256)):
            yield (f"decode_attend G={G} ones={ones} span={span}", decode_kernels._decode_attend_kernel,
                   pointer_types(decode_kernels._decode_attend_kernel, "bf16", {**over, "IDS": "*i32", "NCNT": "*i32"}),
                   dict(HKV=8, G=G, GP=GP, RP=RP, C=C, D=D, SPAN=span, ESTIMATE_DIAGONAL=True), ones,
                   4, decode_kernels.ATTEND_STAGES)
        for est, db in ((True, 0), (False, 0), (True, 32)):
            yield (f"decode_combine G={G} est={est} dims={db}", decode_kernels._decode_combine_kernel,
                   pointer_types(decode_kernels._decode_combine_kernel, "bf16",
                                 {**over, "NCNT": "*i32", "LSUM": "*fp32"}),
                   dict(HKV=8, G=G, RP=RP, D=D, NSP=256, ESTIMATE_DIAGONAL=est, DB=db), ())


def resources(kernel) -> str:
    """Registers, local stack (spills) and shared memory of a compiled kernel, read from its
    cubin with the cuobjdump that Triton ships."""
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(kernel.asm["cubin"])
        f.flush()
        out = subprocess.run([cuobjdump, "--dump-resource-usage", f.name], capture_output=True, text=True).stdout
    usage = next((line.split("REG:")[1] for line in out.splitlines() if "REG:" in line), "?")
    reg, stack = usage.split()[0], usage.split()[1].split(":")[1]
    return f"regs {reg} stack {stack} B shared {kernel.metadata.shared} B"


def main() -> int:
    # --quick: GQA 4 with D=128 and GQA 3 (padded rows) with D=64, about half the compile time
    shapes = SHAPES[::2] if "--quick" in sys.argv else SHAPES
    failures = 0
    only = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")), "")
    for name, fn, types, constexprs, ones, *options in cases(shapes):
        if only not in name:
            continue
        t0 = time.time()
        try:
            kernel = compile_kernel(fn, types, constexprs, ones, *options)  # (num_warps, num_stages)
            if kernel.metadata.shared > SM90_SHARED:  # compiles, then fails at launch
                raise RuntimeError(f"needs {kernel.metadata.shared} B of shared memory (sm_90: {SM90_SHARED})")
            extra = f"  {resources(kernel)}" if "--resources" in sys.argv else ""
            print(f"ok    {name} ({time.time() - t0:.1f}s){extra}", flush=True)
        except Exception as exc:  # noqa: BLE001
            failures += 1
            msg = str(exc).strip().splitlines()
            print(f"FAIL  {name}: {type(exc).__name__}: {' | '.join(msg[-6:])[:600]}", flush=True)
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
