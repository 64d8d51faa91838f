// RAM / RAM+ (MergeKit ram.py): per-element contributor counts over the task vectors, the
// per-model overlap statistics of RAM+, and each model's contribution. The sum over models is
// misc_stack_sum (torch's dim-0 order).
import { roundModex4, roundMode } from "./inline/round";
import { OK } from "./convert";

// @ts-ignore: decorator
@inline function tvAt(ptrs: usize, i: i32, j: usize): f32 {
  return load<f32>(<usize>load<u32>(ptrs + (<usize>i << 2)) + (j << 2));
}

/** cnt[j] = #{i : |tv_i[j]| > eps} for K task vectors (`ptrs`: K u32 pointers), as f32. */
export function misc_ram_count(cnt: usize, ptrs: usize, k: i32, n: usize, eps: f32): i32 {
  const ev = f32x4.splat(eps);
  let j: usize = 0;
  for (; j + 4 <= n; j += 4) {
    let c = i32x4.splat(0);
    // a true lane of the comparison is -1: subtracting it counts
    for (let i = 0; i < k; i++) c = i32x4.sub(c, f32x4.gt(f32x4.abs(v128.load(<usize>load<u32>(ptrs + (<usize>i << 2)) + (j << 2))), ev));
    v128.store(cnt + (j << 2), f32x4.convert_i32x4_s(c));
  }
  for (; j < n; j++) {
    let c = 0;
    for (let i = 0; i < k; i++) if (abs<f32>(tvAt(ptrs, i, j)) > eps) c++;
    store<f32>(cnt + (j << 2), <f32>c);
  }
  return OK;
}

/**
 * For one task vector: out[0] = #{j : |tv[j]| > eps and cnt[j] > 1} (shared), out[1] =
 * #{j : |tv[j]| > eps and cnt[j] == 1} (unique), as f64.
 */
export function misc_ram_overlap(out: usize, tv: usize, cnt: usize, n: usize, eps: f32): i32 {
  let shared: f64 = 0;
  let unique: f64 = 0;
  for (let j: usize = 0; j < n; j++) {
    if (!(abs<f32>(load<f32>(tv + (j << 2))) > eps)) continue;
    const c = load<f32>(cnt + (j << 2));
    if (c > 1) shared++;
    else if (c == 1) unique++;
  }
  store<f64>(out, shared);
  store<f64>(out, unique, 8);
  return OK;
}

/**
 * In place: tv[j] becomes this model's term of the merged task vector,
 *   z = R(tv * nz), u = z * (cnt == 1), o = R(R(z * (cnt > 1)) / R(max(cnt, 1))),
 *   ram (lam = 1, promote = 0):         R(u + o)
 *   ram+ as MergeKit (promote = 1):     f32(f32(u * lam) + o)   (lam is a float32 tensor)
 *   ram+ in the working dtype (0):      R(R(u * lam) + o)
 */
export function misc_ram_terms(tv: usize, cnt: usize, lam: f32, n: usize, eps: f32, mode: i32, promote: i32): i32 {
  const ev = f32x4.splat(eps);
  const one = f32x4.splat(1);
  const lv = f32x4.splat(lam);
  let j: usize = 0;
  for (; j + 4 <= n; j += 4) {
    const t = v128.load(tv + (j << 2));
    const c = v128.load(cnt + (j << 2));
    const z = roundModex4(f32x4.mul(t, v128.and(f32x4.gt(f32x4.abs(t), ev), one)), mode);
    const u = f32x4.mul(z, v128.and(f32x4.eq(c, one), one));
    const shared = roundModex4(f32x4.mul(z, v128.and(f32x4.gt(c, one), one)), mode);
    const o = roundModex4(f32x4.div(shared, roundModex4(f32x4.max(c, one), mode)), mode);
    let r: v128;
    if (promote) r = f32x4.add(f32x4.mul(u, lv), o);
    else if (lam == 1) r = roundModex4(f32x4.add(u, o), mode);
    else r = roundModex4(f32x4.add(roundModex4(f32x4.mul(u, lv), mode), o), mode);
    v128.store(tv + (j << 2), r);
  }
  for (; j < n; j++) {
    const t = load<f32>(tv + (j << 2));
    const c = load<f32>(cnt + (j << 2));
    const z = roundMode(t * (abs<f32>(t) > eps ? <f32>1 : <f32>0), mode);
    const u = z * (c == 1 ? <f32>1 : <f32>0);
    const o = roundMode(roundMode(z * (c > 1 ? <f32>1 : <f32>0), mode) / roundMode(max<f32>(c, 1), mode), mode);
    let r: f32;
    if (promote) r = u * lam + o;
    else if (lam == 1) r = roundMode(u + o, mode);
    else r = roundMode(roundMode(u * lam, mode) + o, mode);
    store<f32>(tv + (j << 2), r);
  }
  return OK;
}
