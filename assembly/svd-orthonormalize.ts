// Orthonormal bases for the randomized SVD: the rows of a (rows x cols) float32 matrix are
// orthonormalized in place by modified Gram-Schmidt, run twice ("twice is enough", Giraud et al.
// 2005) so the basis stays orthogonal to float32 precision. Dot products accumulate in float64.
// A row that is (numerically) in the span of the rows before it becomes zero: its share of the
// norm after both passes is below `tol` of what it was.

// @ts-ignore: decorator
@inline function dot64(a: usize, b: usize, n: usize): f64 {
  let acc0 = f64x2.splat(0);
  let acc1 = f64x2.splat(0);
  let j: usize = 0;
  for (; j + 4 <= n; j += 4) {
    const p = f32x4.mul(v128.load(a + (j << 2)), v128.load(b + (j << 2)));
    acc0 = f64x2.add(acc0, f64x2.promote_low_f32x4(p));
    acc1 = f64x2.add(acc1, f64x2.promote_low_f32x4(v128.shuffle<f32>(p, p, 2, 3, 0, 1)));
  }
  let s = f64x2.extract_lane(acc0, 0) + f64x2.extract_lane(acc0, 1) + f64x2.extract_lane(acc1, 0) + f64x2.extract_lane(acc1, 1);
  for (; j < n; j++) s += <f64>(load<f32>(a + (j << 2)) * load<f32>(b + (j << 2)));
  return s;
}

// @ts-ignore: decorator
@inline function axpy(y: usize, x: usize, s: f32, n: usize): void {
  const sv = f32x4.splat(s);
  let j: usize = 0;
  for (; j + 4 <= n; j += 4) v128.store(y + (j << 2), f32x4.add(v128.load(y + (j << 2)), f32x4.mul(sv, v128.load(x + (j << 2)))));
  for (; j < n; j++) store<f32>(y + (j << 2), load<f32>(y + (j << 2)) + s * load<f32>(x + (j << 2)));
}

// @ts-ignore: decorator
@inline function scale(y: usize, s: f32, n: usize): void {
  const sv = f32x4.splat(s);
  let j: usize = 0;
  for (; j + 4 <= n; j += 4) v128.store(y + (j << 2), f32x4.mul(v128.load(y + (j << 2)), sv));
  for (; j < n; j++) store<f32>(y + (j << 2), load<f32>(y + (j << 2)) * s);
}

/** Orthonormalizes the rows of x (rows x cols) in place; dependent rows become zero. */
export function svd_orthonormalize_rows(x: usize, rows: usize, cols: usize, tol: f64): i32 {
  for (let i: usize = 0; i < rows; i++) {
    const ri = x + ((i * cols) << 2);
    const before = Math.sqrt(dot64(ri, ri, cols));
    if (before == 0 || !isFinite(before)) { memory.fill(ri, 0, cols << 2); continue; }
    for (let pass = 0; pass < 2; pass++) {
      for (let j: usize = 0; j < i; j++) {
        const rj = x + ((j * cols) << 2);
        const d = dot64(ri, rj, cols);
        if (d != 0) axpy(ri, rj, <f32>(-d), cols);
      }
    }
    const after = Math.sqrt(dot64(ri, ri, cols));
    if (after <= tol * before) { memory.fill(ri, 0, cols << 2); continue; }
    scale(ri, <f32>(1.0 / after), cols);
  }
  return 0;
}

/** out (rows x rows, float64) = x . x^T for x (rows x cols, float32), accumulated in float64. */
export function svd_gram_f64(out: usize, x: usize, rows: usize, cols: usize): i32 {
  for (let i: usize = 0; i < rows; i++) {
    const ri = x + ((i * cols) << 2);
    for (let j: usize = 0; j <= i; j++) {
      const d = dot64(ri, x + ((j * cols) << 2), cols);
      store<f64>(out + ((i * rows + j) << 3), d);
      store<f64>(out + ((j * rows + i) << 3), d);
    }
  }
  return 0;
}
