// sce's erase-and-merge step on the GPU (assembly/gta-sce-combine.ts), the WASM kernel's float32
// operations in the same order, one dispatch per task vector:
//   tot = sum_m t_m (gta_sum with weight 1: R(t * 1) = t);  maj = R(tot) >= 0 ? + : -
//   sce_elect  ew_m = w_m * (sign(t_m) == maj);  merged += R(t_m * ew_m);  den += ew_m
//   sce_finish out = R(base + R(R(merged) / max(R(den), clampMin)))
import { gridStride, WGSL_COMMON } from "./wgsl-common.ts";

/** sce_elect: P.f0 = w_m, P.u0 = first. Bindings: t (read), tot (read), merged, den. */
export const WGSL_SCE_ELECT = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(3) var<storage, read> tot: array<f32>;
@group(0) @binding(4) var<storage, read_write> merged: array<f32>;
@group(0) @binding(5) var<storage, read_write> den: array<f32>;
` + gridStride(/* wgsl */ `
    let positive = round_mode(tot[i]) >= 0.0;
    let ti = t[i];
    let keep = select((ti < 0.0), (ti > 0.0), positive);
    let ew = mul(P.f0, select(0.0, 1.0, keep));
    var m = zf();
    var d = zf();
    if (P.u0 == 0u) { m = merged[i]; d = den[i]; }
    merged[i] = add(m, rnd(mul(ti, ew)));
    den[i] = add(d, ew);`);

/** sce_finish: P.f0 = clampMin. Bindings: base, merged (read), den (read). */
export const WGSL_SCE_FINISH = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read_write> base: array<f32>;
@group(0) @binding(3) var<storage, read> merged: array<f32>;
@group(0) @binding(4) var<storage, read> den: array<f32>;
` + gridStride(/* wgsl */ `
    var d = rnd(den[i]);
    if (d < P.f0) { d = P.f0; }
    base[i] = rnd(add(base[i], rnd(div_rn(rnd(merged[i]), d))));`);
