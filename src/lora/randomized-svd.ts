// Truncated SVD by randomized range finding with power iterations (Halko, Martinsson & Tropp
// 2011, algorithms 4.4 and 5.1), all products in the wasm kernels. For A (m x n) and target rank
// r: a sketch of l = min(r + oversample, m, n) columns, Y = A.Omega, orthonormalized, refined by
// `powerIterations` rounds of (A^T, A) products; then the small B = Q^T A (l x n) is decomposed
// through the eigenvectors of B.B^T (float64 Jacobi). When l = min(m, n) the sketch spans the
// whole range and the result is the exact SVD up to float32 rounding.
import { AmalgamError } from "../errors.ts";
import type { Kernels } from "../kernels/kernels.ts";
import type { StreamKey } from "../random/stream-key.ts";

export interface RandomizedSvdOptions {
  /** Singular triplets wanted. */
  readonly rank: number;
  /** Extra sketch columns (default 10). */
  readonly oversample?: number;
  /** Rounds of A^T / A products that sharpen the sketch (default 2). */
  readonly powerIterations?: number;
  /** Key of the random test matrix (src/random/stream-key.ts). */
  readonly key: StreamKey;
}

/** The leading singular triplets, in kernel memory. */
export interface TruncatedSvd {
  readonly rank: number;
  /** Singular values, descending. */
  readonly sigma: Float64Array;
  /** U^T: `rank` rows of m (left singular vectors). */
  readonly ut: number;
  /** V^T: `rank` rows of n (right singular vectors). */
  readonly vt: number;
}

export const DEFAULT_OVERSAMPLE = 10;
export const DEFAULT_POWER_ITERATIONS = 2;
/** Relative norm under which a sketch vector counts as dependent (float32 precision). */
const DEPENDENT = 1e-6;
/** Jacobi sweeps; cyclic Jacobi converges quadratically, a dozen sweeps suffice for l < 1000. */
const JACOBI_SWEEPS = 60;

/** Row-major transpose into fresh memory. */
function transposed(k: Kernels, x: number, rows: number, cols: number): number {
  const out = k.alloc(rows * cols * 4);
  k.call("svd_transpose", out, x, rows, cols);
  return out;
}

/** Orthonormal basis (rows, l x len) of the columns of `y` (len x l). */
function basis(k: Kernels, y: number, len: number, l: number): number {
  const yt = transposed(k, y, len, l);
  k.call("svd_orthonormalize_rows", yt, l, len, DEPENDENT);
  return yt;
}

/** The `rank` leading singular triplets of the float32 matrix at `a` (m x n, row-major). */
export function randomizedSvd(k: Kernels, a: number, m: number, n: number, options: RandomizedSvdOptions): TruncatedSvd {
  if (!Number.isInteger(options.rank) || options.rank < 1) throw new AmalgamError("E_ARGS", `SVD rank must be a positive integer, got ${options.rank}`);
  const l = Math.min(options.rank + (options.oversample ?? DEFAULT_OVERSAMPLE), m, n);
  const r = Math.min(options.rank, l);
  // Omega (n x l): centred uniforms from the counter-based generator.
  const omega = k.alloc(n * l * 4);
  k.call("rng_uniform", omega, options.key.lo, options.key.hi, 0, n * l);
  const om = new Float32Array(k.memory.buffer, omega, n * l);
  for (let i = 0; i < om.length; i++) om[i] = om[i]! * 2 - 1;
  const y = k.alloc(m * l * 4);
  k.call("svd_matmul", y, a, omega, m, n, l, 0);
  let qt = basis(k, y, m, l); // l x m
  const z = k.alloc(n * l * 4);
  for (let it = 0; it < (options.powerIterations ?? DEFAULT_POWER_ITERATIONS); it++) {
    const q = transposed(k, qt, l, m); // m x l
    k.call("svd_matmul_tn", z, a, q, m, n, l, 0); // A^T Q: n x l
    const zt = basis(k, z, n, l); // l x n
    const zq = transposed(k, zt, l, n); // n x l
    k.call("svd_matmul", y, a, zq, m, n, l, 0); // A Z: m x l
    qt = basis(k, y, m, l);
  }
  // B = Q^T A (l x n) and its Gram matrix B.B^T (l x l, float64).
  const q = transposed(k, qt, l, m);
  const b = k.alloc(l * n * 4);
  k.call("svd_matmul_tn", b, q, a, m, l, n, 0);
  const g = k.alloc(l * l * 8);
  k.call("svd_gram_f64", g, b, l, n);
  const v = k.alloc(l * l * 8);
  const status = k.exports.svd_jacobi_eigh(g, v, l, JACOBI_SWEEPS);
  if (status !== 0 && status !== 2) throw new AmalgamError("E_KERNEL", `kernel svd_jacobi_eigh failed with status ${status}`);
  // Every allocation before any view: growing the memory detaches views made earlier.
  const wt = k.alloc(r * l * 4); // W^T (r x l): the leading eigenvectors as rows
  const ut = k.alloc(r * m * 4);
  const vt = k.alloc(r * n * 4);
  const inv = k.alloc(r * 4);
  const gv = new Float64Array(k.memory.buffer, g, l * l);
  const vv = new Float64Array(k.memory.buffer, v, l * l);
  const order = Array.from({ length: l }, (_, i) => i).sort((i, j) => gv[j * l + j]! - gv[i * l + i]! || i - j);
  const sigma = new Float64Array(r);
  const wtv = new Float32Array(k.memory.buffer, wt, r * l);
  for (let j = 0; j < r; j++) {
    const c = order[j]!;
    sigma[j] = Math.sqrt(Math.max(0, gv[c * l + c]!));
    for (let i = 0; i < l; i++) wtv[j * l + i] = vv[i * l + c]!;
  }
  const floor = (sigma[0] ?? 0) * 1e-7;
  const invv = new Float32Array(k.memory.buffer, inv, r);
  for (let j = 0; j < r; j++) invv[j] = sigma[j]! > floor && sigma[j]! > 0 ? 1 / sigma[j]! : 0;
  k.call("svd_matmul", ut, wt, qt, r, l, m, 0); // (Q W)^T
  k.call("svd_matmul", vt, wt, b, r, l, n, 0); // W^T B = diag(sigma) V^T
  k.call("svd_scale_rows", vt, inv, r, n);
  return { rank: r, sigma, ut, vt };
}
