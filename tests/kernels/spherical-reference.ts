// Plain TypeScript references for the spherical kernels: one value at a time, written from the
// documented summation orders (see the kernels' headers), with an exact fused multiply-add.
import { roundRef } from "../helpers/reference.ts";

const f = Math.fround;
const word = new Float32Array(1);
const bits = new Uint32Array(word.buffer);

/** A finite float32 as a BigInt times 2^-149. */
function scaled(x: number): bigint {
  word[0] = x;
  const b = bits[0]!;
  const e = (b >>> 23) & 0xff;
  const m = BigInt(e === 0 ? b & 0x7fffff : (b & 0x7fffff) | 0x800000);
  const v = m << BigInt(e === 0 ? 0 : e - 1);
  return b >>> 31 ? -v : v;
}

/** round32(a*b + c) with one rounding, computed exactly with BigInt. */
export function fma32Exact(a: number, b: number, c: number): number {
  const approx = a * b + c;
  if (!Number.isFinite(a) || !Number.isFinite(b) || !Number.isFinite(c) || !Number.isFinite(approx)) return f(approx);
  const s = scaled(a) * scaled(b) + (scaled(c) << 149n); // units of 2^-298
  if (s === 0n) {
    const prodNeg = (Object.is(a * b, -0) || a * b < 0);
    return prodNeg && Object.is(c, -0) ? -0 : 0;
  }
  const neg = s < 0n;
  const m = neg ? -s : s;
  const top = m.toString(2).length - 1;
  const k = Math.max(149, top - 23); // quantum 2^(k-298): subnormal floor 2^-149
  const kk = BigInt(k);
  let q = m >> kk;
  const rem = m & ((1n << kk) - 1n);
  const half = 1n << (kk - 1n);
  if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
  const v = f(Number(q) * 2 ** (k - 298));
  return neg ? -v : v;
}

export function blasSdotRef(x: Float32Array, y: Float32Array): number {
  const n = x.length;
  const n32 = n - (n % 32);
  const n64 = n - (n % 64);
  const acc16 = Array.from({ length: 4 }, () => new Array<number>(16).fill(0));
  let i = 0;
  for (; i < n64; i += 64) for (let j = 0; j < 4; j++) for (let l = 0; l < 16; l++) acc16[j]![l] = fma32Exact(x[i + 16 * j + l]!, y[i + 16 * j + l]!, acc16[j]![l]!);
  const acc8 = acc16.map((a) => Array.from({ length: 8 }, (_, l) => f(a[l]! + a[l + 8]!)));
  for (; i < n32; i += 32) for (let j = 0; j < 4; j++) for (let l = 0; l < 8; l++) acc8[j]![l] = fma32Exact(x[i + 8 * j + l]!, y[i + 8 * j + l]!, acc8[j]![l]!);
  let dot = 0;
  if (n32 > 0) {
    const s = Array.from({ length: 8 }, (_, l) => f(f(f(acc8[0]![l]! + acc8[1]![l]!) + acc8[2]![l]!) + acc8[3]![l]!));
    const h = [0, 1, 2, 3].map((l) => f(s[l]! + s[l + 4]!));
    dot = f(f(h[0]! + h[1]!) + f(h[2]! + h[3]!));
  }
  for (; i < n; i++) dot += f(x[i]! * y[i]!);
  return f(dot);
}

function pairwiseRef(p: number[]): number {
  const n = p.length;
  if (n < 8) return p.reduce((r, v) => f(r + v), 0);
  if (n <= 128) {
    const r = p.slice(0, 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = f(r[j]! + p[i + j]!);
    let res = f(f(f(r[0]! + r[1]!) + f(r[2]! + r[3]!)) + f(f(r[4]! + r[5]!) + f(r[6]! + r[7]!)));
    for (; i < n; i++) res = f(res + p[i]!);
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return f(pairwiseRef(p.slice(0, n2)) + pairwiseRef(p.slice(n2)));
}

export function numpySumProdRef(x: Float32Array, y: Float32Array): number {
  const p = Array.from(x, (v, i) => f(v * y[i]!));
  let acc = 0;
  for (let b = 0; b < p.length; b += 8192) acc = f(acc + pairwiseRef(p.slice(b, b + 8192)));
  return acc;
}

/** torch's multi_row_sum: `size` steps of `lanes` values (value(step, lane)); 4 levels. */
function multiRowSum(size: number, lanes: number, value: (step: number, lane: number) => number): number[] {
  const ceilLog2 = (v: number) => (v <= 1 ? 0 : Math.ceil(Math.log2(v)));
  const lp = Math.max(4, Math.floor(ceilLog2(size) / 4));
  const step = 2 ** lp;
  const mask = step - 1;
  const acc = Array.from({ length: 4 }, () => new Array<number>(lanes).fill(0));
  let i = 0;
  while (i + step <= size) {
    for (let j = 0; j < step; j++, i++) for (let k = 0; k < lanes; k++) acc[0]![k] = f(acc[0]![k]! + value(i, k));
    for (let j = 1; j < 4; j++) {
      for (let k = 0; k < lanes; k++) { acc[j]![k] = f(acc[j]![k]! + acc[j - 1]![k]!); acc[j - 1]![k] = 0; }
      if ((i & (mask * 2 ** (j * lp))) !== 0) break;
    }
  }
  for (; i < size; i++) for (let k = 0; k < lanes; k++) acc[0]![k] = f(acc[0]![k]! + value(i, k));
  for (let j = 1; j < 4; j++) for (let k = 0; k < lanes; k++) acc[0]![k] = f(acc[0]![k]! + acc[j]![k]!);
  return acc[0]!;
}

/** torch's row_sum over n items of `lanes` values: item i goes to partial i % 4. */
function rowSum(n: number, lanes: number, value: (item: number, lane: number) => number): number[] {
  const size = Math.floor(n / 4);
  const parts = [0, 1, 2, 3].map((p) => multiRowSum(size, lanes, (s, k) => value(4 * s + p, k)));
  for (let i = size * 4; i < n; i++) for (let k = 0; k < lanes; k++) parts[0]![k] = f(parts[0]![k]! + value(i, k));
  for (let p = 1; p < 4; p++) for (let k = 0; k < lanes; k++) parts[0]![k] = f(parts[0]![k]! + parts[p]![k]!);
  return parts[0]!;
}

export function torchSumProdRowsRef(x: Float32Array, y: Float32Array, rows: number, cols: number, yRowStride: number, mode: number): Float32Array {
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const p = (c: number) => roundRef(x[r * cols + c]! * y[r * yRowStride + c]!, mode);
    let s: number;
    if (cols < 8) s = rowSum(cols, 1, (i) => p(i))[0]!;
    else {
      const nvec = Math.floor(cols / 8);
      const lanes = rowSum(nvec, 8, (v, l) => p(8 * v + l));
      s = 0;
      for (let c = nvec * 8; c < cols; c++) s = f(s + p(c));
      for (const l of lanes) s = f(s + l);
    }
    out[r] = roundRef(s, mode);
  }
  return out;
}

export function torchSumProdColsRef(x: Float32Array, y: Float32Array, rows: number, cols: number, mode: number): Float32Array {
  const out = new Float32Array(cols);
  const block = cols >= 8 ? 32 : 4;
  const mrsEnd = cols - (cols % block);
  for (let c = 0; c < cols; c++) {
    const p = (r: number) => roundRef(x[r * cols + c]! * y[r * cols + c]!, mode);
    const s = c < mrsEnd ? multiRowSum(rows, 1, (r) => p(r))[0]! : rowSum(rows, 1, (r) => p(r))[0]!;
    out[c] = roundRef(s, mode);
  }
  return out;
}

export function torchNormRowsRef(x: Float32Array, rows: number, cols: number, mode: number): Float32Array {
  const width = mode === 0 ? 8 : 16;
  const full = cols - (cols % width);
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const acc = new Array<number>(8).fill(0);
    for (let d = 0; d < full; d++) { const v = x[r * cols + d]!; acc[d % 8] = fma32Exact(v, v, acc[d % 8]!); }
    let s = acc[0]!;
    for (let l = 1; l < 8; l++) s = f(s + acc[l]!);
    for (let d = full; d < cols; d++) { const v = x[r * cols + d]!; s = f(s + f(v * v)); }
    out[r] = roundRef(Math.sqrt(s), mode);
  }
  return out;
}

export function torchNormColsRef(x: Float32Array, rows: number, cols: number, mode: number, roundAcc: boolean): Float32Array {
  const out = new Float32Array(cols);
  for (let c = 0; c < cols; c++) {
    let acc = 0;
    for (let r = 0; r < rows; r++) {
      const v = x[r * cols + c]!;
      acc = roundAcc ? roundRef(acc + roundRef(v * v, mode), mode) : fma32Exact(v, v, acc);
    }
    out[c] = roundRef(Math.sqrt(acc), mode);
  }
  return out;
}

export function dotRoundedRef(x: Float32Array, y: Float32Array, mode: number): number {
  let acc = 0;
  for (let i = 0; i < x.length; i++) acc = roundRef(acc + roundRef(x[i]! * y[i]!, mode), mode);
  return acc;
}
