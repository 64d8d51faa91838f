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

/** out (m x n) = a (m x k) . b (k x n); with `accumulate` != 0, out += a . b. */
export function svd_matmul(out: usize, a: usize, b: usize, m: usize, k: usize, n: usize, accumulate: i32): i32 {
  for (let i: usize = 0; i < m; i++) {
    const row = out + ((i * n) << 2);
    if (!accumulate) zero(row, n);
    const ai = a + ((i * k) << 2);
    for (let p: usize = 0; p < k; p++) {
      const s = load<f32>(ai + (p << 2));
      axpy(row, b + ((p * n) << 2), s, n);
    }
  }
  return 0;
}

/** out (m x n) = a^T . b with a (k x m) and b (k x n); with `accumulate` != 0, out += a^T . b. */
export function svd_matmul_tn(out: usize, a: usize, b: usize, k: usize, m: usize, n: usize, accumulate: i32): i32 {
  if (!accumulate) zero(out, m * n);
  for (let p: usize = 0; p < k; p++) {
    const ap = a + ((p * m) << 2);
    const bp = b + ((p * n) << 2);
    for (let i: usize = 0; i < m; i++) {
      const s = load<f32>(ap + (i << 2));
      axpy(out + ((i * n) << 2), bp, s, n);
    }
  }
  return 0;
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
