// The task-arithmetic family's elementwise steps on the GPU (assembly/gta-task-vector.ts,
// gta-combine.ts), with the WASM kernels' float32 operations in the same order:
//   task vector  d = R(x - base)
//   consensus    tot = sum_m R(d_m w_m);  keep_m = sign(R(d_m w_m)) == (R(tot) >= 0 ? + : -)
//                mixed = sum_m R(d_m w_m) keep_m;  div = R(sum_m w_m keep_m), 0 -> 1
//   otherwise    mixed = sum_m R(d_m w_m); div = the host's
//   finish       mixed = R(mixed); R(mixed / div); R(mixed * lambda); out = R(base + mixed)
// Sums run over the task vectors in input order from +0, one dispatch per task vector.
import { gridStride, WGSL_COMMON } from "./wgsl-common.ts";

/** task_vector: x = R(x - base). Bindings: x, base (read). */
export const WGSL_TASK_VECTOR = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> base: array<f32>;
` + gridStride(/* wgsl */ `
    x[i] = rnd(sub(x[i], base[i]));`);

/** gta_sum: acc = (first ? +0 : acc) + R(d * w); P.f0 = w, P.u0 = first. Bindings: d (read), acc. */
export const WGSL_GTA_SUM = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read> d: array<f32>;
@group(0) @binding(3) var<storage, read_write> acc: array<f32>;
` + gridStride(/* wgsl */ `
    let p = rnd(mul(d[i], P.f0));
    var a = zf();
    if (P.u0 == 0u) { a = acc[i]; }
    acc[i] = add(a, p);`);

/**
 * gta_elect: one task vector's vote under the elected sign. P.f0 = w, P.u0 = first.
 * Bindings: d (read), tot (read), mixed, div.
 */
export const WGSL_GTA_ELECT = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read> d: array<f32>;
@group(0) @binding(3) var<storage, read> tot: array<f32>;
@group(0) @binding(4) var<storage, read_write> mixed: array<f32>;
@group(0) @binding(5) var<storage, read_write> dv: array<f32>;
` + gridStride(/* wgsl */ `
    let positive = round_mode(tot[i]) >= 0.0;
    let wd = rnd(mul(d[i], P.f0));
    let keep = select((wd < 0.0), (wd > 0.0), positive);
    let mk = select(0.0, 1.0, keep);
    var m = zf();
    var v = zf();
    if (P.u0 == 0u) { m = mixed[i]; v = dv[i]; }
    mixed[i] = add(m, nc(wd * mk));
    dv[i] = add(v, nc(P.f0 * mk));`);

/**
 * gta_finish: base = R(base + mixed') where mixed' is R(mixed), normalized and scaled.
 * P.u0 = flags (1 consensus: per-element div from dv, 2 normalize, 4 lambda), P.f0 = div, P.f1 = lambda.
 * Bindings: base, mixed (read), dv (read; any buffer without consensus).
 */
export const WGSL_GTA_FINISH = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read_write> base: array<f32>;
@group(0) @binding(3) var<storage, read> mixed: array<f32>;
@group(0) @binding(4) var<storage, read> dv: array<f32>;
` + gridStride(/* wgsl */ `
    var m = rnd(mixed[i]);
    var div = P.f0;
    if ((P.u0 & 1u) != 0u) {
      div = rnd(dv[i]);
      if (div == 0.0) { div = 1.0; }
    }
    if ((P.u0 & 2u) != 0u) { m = rnd(div_rn(m, div)); }
    if ((P.u0 & 4u) != 0u) { m = rnd(mul(m, P.f1)); }
    base[i] = rnd(add(base[i], m));`);
