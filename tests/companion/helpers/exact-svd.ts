// Exact singular values of small matrices (float64 cyclic Jacobi on A^T A), for tests.
export function matrix(m: number, n: number, f: (i: number, j: number) => number): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = f(i, j);
  return out;
}

/** Singular values of a (m x n), descending, computed in float64. */
export function exactSingularValues(a: ArrayLike<number>, m: number, n: number): number[] {
  // G = A^T A (n x n)
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let r = 0; r < m; r++) s += a[r * n + i]! * a[r * n + j]!;
    g[i * n + j] = s;
  }
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += g[p * n + q]! ** 2;
    if (off < 1e-28) break;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) {
      const apq = g[p * n + q]!;
      if (apq === 0) continue;
      const theta = (g[q * n + q]! - g[p * n + p]!) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1), s = t * c;
      for (let k = 0; k < n; k++) {
        const kp = g[k * n + p]!, kq = g[k * n + q]!;
        g[k * n + p] = c * kp - s * kq; g[k * n + q] = s * kp + c * kq;
      }
      for (let k = 0; k < n; k++) {
        const pk = g[p * n + k]!, qk = g[q * n + k]!;
        g[p * n + k] = c * pk - s * qk; g[q * n + k] = s * pk + c * qk;
      }
    }
  }
  return Array.from({ length: n }, (_, i) => Math.sqrt(Math.max(0, g[i * n + i]!))).sort((x, y) => y - x);
}
