// arcee_fusion's elementwise steps, its quantile selection and its large-tensor subsample.
// Each op is rounded to the working dtype (mode) as torch rounds it.
import { roundModex4, roundMode } from "./inline/round";
import { OK } from "./convert";

/**
 * In place over p and q: p = R(p + eps), q = R(q + eps); out = R(p * R(log(R(p / q)))), the terms
 * of KL(p || q). log is correctly rounded to float32 before the rounding to the dtype.
 */
export function misc_kl_terms(out: usize, p: usize, q: usize, eps: f32, n: usize, mode: i32): i32 {
  for (let i: usize = 0; i < n; i++) {
    const pi = roundMode(load<f32>(p + (i << 2)) + eps, mode);
    const qi = roundMode(load<f32>(q + (i << 2)) + eps, mode);
    const l = roundMode(<f32>Math.log(<f64>roundMode(pi / qi, mode)), mode);
    store<f32>(out + (i << 2), roundMode(pi * l, mode));
  }
  return OK;
}

/** out[r, c] = R(|R(b - a)| * kl[r]): |b - a| weighted by its row's KL divergence. */
export function misc_fusion_importance(out: usize, a: usize, b: usize, kl: usize, rows: usize, cols: usize, mode: i32): i32 {
  for (let r: usize = 0; r < rows; r++) {
    const k = load<f32>(kl + (r << 2));
    const kv = f32x4.splat(k);
    const base = r * cols * 4;
    let c: usize = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = base + (c << 2);
      const d = f32x4.abs(roundModex4(f32x4.sub(v128.load(b + o), v128.load(a + o)), mode));
      v128.store(out + o, roundModex4(f32x4.mul(d, kv), mode));
    }
    for (; c < cols; c++) {
      const o = base + (c << 2);
      const d = abs<f32>(roundMode(load<f32>(b + o) - load<f32>(a + o), mode));
      store<f32>(out + o, roundMode(d * k, mode));
    }
  }
  return OK;
}

/**
 * out = a + R(b - a) * (imp >= thr). With `promote` the 0/1 mask is float32 and so is the sum
 * (MergeKit's float32 output); otherwise the sum is rounded to the working dtype.
 */
export function misc_fusion_apply(out: usize, a: usize, b: usize, imp: usize, thr: f32, n: usize, mode: i32, promote: i32): i32 {
  const outMode = promote ? 0 : mode;
  const tv = f32x4.splat(thr);
  const one = f32x4.splat(1);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const av = v128.load(a + (i << 2));
    const d = roundModex4(f32x4.sub(v128.load(b + (i << 2)), av), mode);
    const m = v128.and(f32x4.ge(v128.load(imp + (i << 2)), tv), one);
    v128.store(out + (i << 2), roundModex4(f32x4.add(av, f32x4.mul(d, m)), outMode));
  }
  for (; i < n; i++) {
    const av = load<f32>(a + (i << 2));
    const d = roundMode(load<f32>(b + (i << 2)) - av, mode);
    const m: f32 = load<f32>(imp + (i << 2)) >= thr ? 1 : 0;
    store<f32>(out + (i << 2), roundMode(av + d * m, outMode));
  }
  return OK;
}

/**
 * keys[i] = an i32 whose signed order is torch.sort's order of x[i]: NaN after +inf, -0 equal
 * to +0 (both become +0's key).
 */
export function misc_order_keys(keys: usize, x: usize, n: usize): i32 {
  for (let i: usize = 0; i < n; i++) {
    const v = load<f32>(x + (i << 2));
    let b = reinterpret<i32>(v);
    if (v != v) b = 0x7fc00000;
    else if (v == 0) b = 0;
    store<i32>(keys + (i << 2), b < 0 ? b ^ 0x7fffffff : b);
  }
  return OK;
}

/** The float32 value of an order key. */
// @ts-ignore: decorator
@inline function keyValue(k: i32): f32 {
  return reinterpret<f32>(k < 0 ? k ^ 0x7fffffff : k);
}

// @ts-ignore: decorator
@inline function keyAt(keys: usize, i: usize): i32 {
  return load<i32>(keys + (i << 2));
}

// @ts-ignore: decorator
@inline function swapKeys(keys: usize, i: usize, j: usize): void {
  const t = keyAt(keys, i);
  store<i32>(keys + (i << 2), keyAt(keys, j));
  store<i32>(keys + (j << 2), t);
}

/**
 * Quickselect: reorders keys[lo, hi) so that keys[k] is the key of rank k - lo, everything before
 * it is <= and everything after it >=; writes its value to out (f32). Median-of-3 pivots and
 * Hoare partitioning, which stays linear on the many equal values of low-precision tensors.
 * Needs lo <= k < hi.
 */
export function misc_select(out: usize, keys: usize, lo: usize, hi: usize, k: usize): i32 {
  let l = lo;
  let h = hi - 1;
  while (l < h) {
    const mid = l + ((h - l) >> 1);
    if (keyAt(keys, mid) < keyAt(keys, l)) swapKeys(keys, mid, l);
    if (keyAt(keys, h) < keyAt(keys, l)) swapKeys(keys, h, l);
    if (keyAt(keys, h) < keyAt(keys, mid)) swapKeys(keys, h, mid);
    const pivot = keyAt(keys, mid);
    let i = l;
    let j = h;
    while (i <= j) {
      while (keyAt(keys, i) < pivot) i++;
      while (keyAt(keys, j) > pivot) j--;
      if (i <= j) {
        swapKeys(keys, i, j);
        i++;
        if (j == 0) break;
        j--;
      }
    }
    // now keys[l..j] <= pivot <= keys[i..h], and keys (j, i) equal the pivot
    if (k <= j) h = j;
    else if (k >= i) l = i;
    else break;
  }
  store<f32>(out, keyValue(keyAt(keys, k)));
  return OK;
}

/**
 * Sequential selection sampling (Knuth's algorithm S) over one block of a stream: element j is
 * taken when remaining * u[j] < needed, so exactly `needed` elements of the whole stream are
 * taken, every subset of that size equally likely. state (3 f64): remaining, needed, written;
 * taken values go to dst[written..].
 */
export function misc_sample_select(dst: usize, src: usize, u: usize, n: usize, state: usize): i32 {
  let remaining = load<f64>(state);
  let needed = load<f64>(state, 8);
  let written = <usize>load<f64>(state, 16);
  for (let j: usize = 0; j < n && needed > 0; j++) {
    if (remaining * <f64>load<f32>(u + (j << 2)) < needed) {
      store<f32>(dst + (written << 2), load<f32>(src + (j << 2)));
      written++;
      needed--;
    }
    remaining--;
  }
  store<f64>(state, remaining);
  store<f64>(state, needed, 8);
  store<f64>(state, <f64>written, 16);
  return OK;
}
