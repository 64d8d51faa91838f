// linear on the GPU (assembly/wsum.ts, wsum-stored.ts): one pass per input in input order,
//   acc = (first ? +0 : acc) + R(w * x)
// then out = R(acc), and R(out / div) when normalizing. Same float32 operations in the same order
// as the WASM kernels, so the same bits.
import { gridStride, WGSL_COMMON } from "./wgsl-common.ts";

/** wsum_step: P.f0 = weight, P.u0 = 1 for the first input. Bindings: x (read), acc. */
export const WGSL_WSUM_STEP = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> acc: array<f32>;
` + gridStride(/* wgsl */ `
    let p = rnd(mul(x[i], P.f0));
    var a = zf();
    if (P.u0 == 0u) { a = acc[i]; }
    acc[i] = add(a, p);`);

/** wsum_finish: acc = R(acc), then R(acc / P.f0) when P.u0 = 1. Binding: acc. */
export const WGSL_WSUM_FINISH = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;
` + gridStride(/* wgsl */ `
    var v = rnd(acc[i]);
    if (P.u0 == 1u) { v = rnd(div_rn(v, P.f0)); }
    acc[i] = v;`);
