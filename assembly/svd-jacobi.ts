// Eigen-decomposition of a small symmetric float64 matrix by the cyclic Jacobi method (Golub &
// Van Loan, Matrix Computations, 4th ed., 8.5.2 with the stable rotation of 8.5.1): `a` (n x n)
// ends diagonal with the eigenvalues, `v` holds the eigenvectors as columns. Used on the
// (l x l) Gram matrix of the randomized SVD's projected matrix; l is the sketch size.

/** Diagonalizes a in place; v = eigenvectors (columns). Status 2 when `sweeps` is not enough. */
export function svd_jacobi_eigh(a: usize, v: usize, n: usize, sweeps: i32): i32 {
  for (let i: usize = 0; i < n; i++) {
    for (let j: usize = 0; j < n; j++) store<f64>(v + ((i * n + j) << 3), i == j ? 1.0 : 0.0);
  }
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let off: f64 = 0;
    let diag: f64 = 0;
    for (let i: usize = 0; i < n; i++) {
      diag += load<f64>(a + ((i * n + i) << 3)) * load<f64>(a + ((i * n + i) << 3));
      for (let j = i + 1; j < n; j++) off += load<f64>(a + ((i * n + j) << 3)) * load<f64>(a + ((i * n + j) << 3));
    }
    if (off <= 1e-30 * diag || off == 0) return 0;
    for (let p: usize = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = load<f64>(a + ((p * n + q) << 3));
        if (apq == 0) continue;
        const app = load<f64>(a + ((p * n + p) << 3));
        const aqq = load<f64>(a + ((q * n + q) << 3));
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1.0 : -1.0) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A <- J^T A J on rows/columns p and q
        for (let k: usize = 0; k < n; k++) {
          const akp = load<f64>(a + ((k * n + p) << 3));
          const akq = load<f64>(a + ((k * n + q) << 3));
          store<f64>(a + ((k * n + p) << 3), c * akp - s * akq);
          store<f64>(a + ((k * n + q) << 3), s * akp + c * akq);
        }
        for (let k: usize = 0; k < n; k++) {
          const apk = load<f64>(a + ((p * n + k) << 3));
          const aqk = load<f64>(a + ((q * n + k) << 3));
          store<f64>(a + ((p * n + k) << 3), c * apk - s * aqk);
          store<f64>(a + ((q * n + k) << 3), s * apk + c * aqk);
        }
        store<f64>(a + ((p * n + q) << 3), 0);
        store<f64>(a + ((q * n + p) << 3), 0);
        for (let k: usize = 0; k < n; k++) {
          const vkp = load<f64>(v + ((k * n + p) << 3));
          const vkq = load<f64>(v + ((k * n + q) << 3));
          store<f64>(v + ((k * n + p) << 3), c * vkp - s * vkq);
          store<f64>(v + ((k * n + q) << 3), s * vkp + c * vkq);
        }
      }
    }
  }
  return 2;
}
