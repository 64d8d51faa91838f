// Dense float32 products for the randomized SVD (extract-lora) and LoRA deltas: row-major
// matrices, each output row built as a sum of scaled rows (axpy form), so the inner loop runs
// over contiguous memory in 4-lane SIMD with a scalar tail. Accumulation is float32 in order of
// the summed index p = 0, 1, ...

// @ts-ignore: decorator
@inline function axpy(out: usize, x: usize, s: f32, n: usize): void {
  const sv = f32x4.splat(s);
  let j: usize = 0;
  for (; j + 4 <= n; j += 4) {
    const o = out + (j << 2);
    v128.store(o, f32x4.add(v128.load(o), f32x4.mul(sv, v128.load(x + (j << 2)))));
  }
  for (; j < n; j++) {
    const o = out + (j << 2);
    store<f32>(o, load<f32>(o) + s * load<f32>(x + (j << 2)));
  }
}

// @ts-ignore: decorator
@inline function zero(out: usize, n: usize): void {
  memory.fill(out, 0, n << 2);
}

/** Rows of b kept hot while every output row takes their terms (svd_matmul). */
const P_BLOCK: usize = 128;
/** Output rows kept hot while every term is added (svd_matmul_tn). */
const I_BLOCK: usize = 64;

/**
 * out (m x n) = a (m x k) . b (k x n); with `accumulate` != 0, out += a . b. Blocks of P_BLOCK
 * rows of b stay in cache while all output rows use them, four output rows at a time; every
 * element still adds its terms one by one in order p = 0, 1, ...
 */
export function svd_matmul(out: usize, a: usize, b: usize, m: usize, k: usize, n: usize, accumulate: i32): i32 {
  if (!accumulate) zero(out, m * n);
  for (let p0: usize = 0; p0 < k; p0 += P_BLOCK) matmulBlock(out, a, b, m, k, n, p0, min<usize>(k, p0 + P_BLOCK));
  return 0;
}

function matmulBlock(out: usize, a: usize, b: usize, m: usize, k: usize, n: usize, p0: usize, p1: usize): void {
  let i: usize = 0;
  for (; i + 4 <= m; i += 4) {
    const r0 = out + ((i * n) << 2), r1 = r0 + (n << 2), r2 = r1 + (n << 2), r3 = r2 + (n << 2);
    const a0 = a + ((i * k) << 2), a1 = a0 + (k << 2), a2 = a1 + (k << 2), a3 = a2 + (k << 2);
    for (let p = p0; p < p1; p++) {
      const s0 = load<f32>(a0 + (p << 2)), s1 = load<f32>(a1 + (p << 2)), s2 = load<f32>(a2 + (p << 2)), s3 = load<f32>(a3 + (p << 2));
      const v0 = f32x4.splat(s0), v1 = f32x4.splat(s1), v2 = f32x4.splat(s2), v3 = f32x4.splat(s3);
      const bp = b + ((p * n) << 2);
      let j: usize = 0;
      for (; j + 4 <= n; j += 4) {
        const o = j << 2;
        const x = v128.load(bp + o);
        v128.store(r0 + o, f32x4.add(v128.load(r0 + o), f32x4.mul(v0, x)));
        v128.store(r1 + o, f32x4.add(v128.load(r1 + o), f32x4.mul(v1, x)));
        v128.store(r2 + o, f32x4.add(v128.load(r2 + o), f32x4.mul(v2, x)));
        v128.store(r3 + o, f32x4.add(v128.load(r3 + o), f32x4.mul(v3, x)));
      }
      for (; j < n; j++) {
        const o = j << 2;
        const x = load<f32>(bp + o);
        store<f32>(r0 + o, load<f32>(r0 + o) + s0 * x);
        store<f32>(r1 + o, load<f32>(r1 + o) + s1 * x);
        store<f32>(r2 + o, load<f32>(r2 + o) + s2 * x);
        store<f32>(r3 + o, load<f32>(r3 + o) + s3 * x);
      }
    }
  }
  for (; i < m; i++) {
    const row = out + ((i * n) << 2);
    const ai = a + ((i * k) << 2);
    for (let p = p0; p < p1; p++) axpy(row, b + ((p * n) << 2), load<f32>(ai + (p << 2)), n);
  }
}

/**
 * out (m x n) = a^T . b with a (k x m) and b (k x n); with `accumulate` != 0, out += a^T . b.
 * Blocks of I_BLOCK output rows stay in cache while every term is added, four terms p..p+3 per
 * pass (in order).
 */
export function svd_matmul_tn(out: usize, a: usize, b: usize, k: usize, m: usize, n: usize, accumulate: i32): i32 {
  if (!accumulate) zero(out, m * n);
  for (let i0: usize = 0; i0 < m; i0 += I_BLOCK) matmulTnBlock(out, a, b, k, m, n, i0, min<usize>(m, i0 + I_BLOCK));
  return 0;
}

function matmulTnBlock(out: usize, a: usize, b: usize, k: usize, m: usize, n: usize, i0: usize, i1: usize): void {
  let p: usize = 0;
  for (; p + 4 <= k; p += 4) {
    const ap = a + ((p * m) << 2);
    const b0 = b + ((p * n) << 2), b1 = b0 + (n << 2), b2 = b1 + (n << 2), b3 = b2 + (n << 2);
    for (let i = i0; i < i1; i++) {
      const s0 = load<f32>(ap + (i << 2)), s1 = load<f32>(ap + ((m + i) << 2)), s2 = load<f32>(ap + ((2 * m + i) << 2)), s3 = load<f32>(ap + ((3 * m + i) << 2));
      const v0 = f32x4.splat(s0), v1 = f32x4.splat(s1), v2 = f32x4.splat(s2), v3 = f32x4.splat(s3);
      const row = out + ((i * n) << 2);
      let j: usize = 0;
      for (; j + 4 <= n; j += 4) {
        const o = j << 2;
        let acc = v128.load(row + o);
        acc = f32x4.add(acc, f32x4.mul(v0, v128.load(b0 + o)));
        acc = f32x4.add(acc, f32x4.mul(v1, v128.load(b1 + o)));
        acc = f32x4.add(acc, f32x4.mul(v2, v128.load(b2 + o)));
        acc = f32x4.add(acc, f32x4.mul(v3, v128.load(b3 + o)));
        v128.store(row + o, acc);
      }
      for (; j < n; j++) {
        const o = j << 2;
        let acc = load<f32>(row + o);
        acc += s0 * load<f32>(b0 + o);
        acc += s1 * load<f32>(b1 + o);
        acc += s2 * load<f32>(b2 + o);
        acc += s3 * load<f32>(b3 + o);
        store<f32>(row + o, acc);
      }
    }
  }
  for (; p < k; p++) {
    const ap = a + ((p * m) << 2);
    const bp = b + ((p * n) << 2);
    for (let i = i0; i < i1; i++) axpy(out + ((i * n) << 2), bp, load<f32>(ap + (i << 2)), n);
  }
}

/** out (cols x rows) = x^T for x (rows x cols); out must not overlap x. */
export function svd_transpose(out: usize, x: usize, rows: usize, cols: usize): i32 {
  const B: usize = 32;
  for (let i0: usize = 0; i0 < rows; i0 += B) {
    const i1 = min<usize>(rows, i0 + B);
    for (let j0: usize = 0; j0 < cols; j0 += B) {
      const j1 = min<usize>(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) store<f32>(out + ((j * rows + i) << 2), load<f32>(x + ((i * cols + j) << 2)));
      }
    }
  }
  return 0;
}

/** x[i, :] *= s[i] for every row i of x (rows x cols); s is float32. */
export function svd_scale_rows(x: usize, s: usize, rows: usize, cols: usize): i32 {
  for (let i: usize = 0; i < rows; i++) {
    const sv = f32x4.splat(load<f32>(s + (i << 2)));
    const r = x + ((i * cols) << 2);
    const si = load<f32>(s + (i << 2));
    let j: usize = 0;
    for (; j + 4 <= cols; j += 4) v128.store(r + (j << 2), f32x4.mul(v128.load(r + (j << 2)), sv));
    for (; j < cols; j++) store<f32>(r + (j << 2), load<f32>(r + (j << 2)) * si);
  }
  return 0;
}
