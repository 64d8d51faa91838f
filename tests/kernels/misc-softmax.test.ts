// misc_softmax_rows: torch's CPU softmax, with SLEEF's expf on the vectorized elements. The
// reference computes SLEEF's fused multiply-adds exactly with BigInt arithmetic.
import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, sameBits, testKernels } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { decodeInput, decodeOutput, TORCH_CASES } from "./misc-torch-vectors.ts";

const R = roundRef;
const f = Math.fround;

/** x = m * 2^e exactly, m an integer (x a finite float32). */
function split(x: number): [bigint, number] {
  if (x === 0) return [0n, 0];
  let e = Math.floor(Math.log2(Math.abs(x)));
  if (2 ** e > Math.abs(x)) e--;
  if (2 ** (e + 1) <= Math.abs(x)) e++;
  const lsb = Math.max(e - 23, -149);
  return [BigInt(x / 2 ** lsb), lsb];
}

/** fma(a, b, c) of float32 values, rounded once to float32 (ties to even). */
function exactFma(a: number, b: number, c: number): number {
  const [ma, ea] = split(a);
  const [mb, eb] = split(b);
  const [mc, ec] = split(c);
  const ep = ea + eb;
  const e = Math.min(ep, ec);
  const total = ma * mb * (1n << BigInt(ep - e)) + mc * (1n << BigInt(ec - e));
  if (total === 0n) return 0;
  const neg = total < 0n;
  const t = neg ? -total : total;
  const bits = t.toString(2).length;
  const lsb = Math.max(e + bits - 24, -149);
  let q = t;
  if (lsb > e) {
    const shift = BigInt(lsb - e);
    q = t >> shift;
    const rem = t - (q << shift);
    const half = 1n << (shift - 1n);
    if (rem > half || (rem === half && (q & 1n) === 1n)) q++;
  }
  const v = f(Number(q) * 2 ** (lsb > e ? lsb : e));
  return neg ? -v : v;
}

/** Round to nearest, ties to even. */
function roundEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** SLEEF xexpf (u10), the vectorized exp torch uses. */
function sleefExp(d: number): number {
  if (Number.isNaN(d)) return d;
  if (d < -104) return 0;
  if (d > 100) return Infinity;
  const q = roundEven(f(d * f(1.4426950408889634)));
  let s = exactFma(q, f(-0.693145751953125), d);
  s = exactFma(q, f(-1.428606765330187045e-6), s);
  let u = f(0.000198527617612853646278381);
  for (const c of [0.00139304355252534151077271, 0.00833336077630519866943359, 0.0416664853692054748535156, 0.166666671633720397949219, 0.5]) u = exactFma(u, s, f(c));
  u = f(1 + exactFma(f(s * s), u, s));
  const h = q >> 1;
  return f(f(u * 2 ** h) * 2 ** (q - h));
}

function softmaxRef(x: Float32Array, cols: number, mode: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r * cols < x.length; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    let m = -Infinity;
    for (const v of row) m = Number.isNaN(v) || Number.isNaN(m) ? NaN : Math.max(m, v);
    const vecEnd = mode === 0 ? cols : cols - (cols % 8);
    const e = Array.from(row, (v, i) => (i < vecEnd ? sleefExp(f(v - m)) : f(Math.exp(f(v - m)))));
    const lanes = new Array<number>(8).fill(0);
    for (let i = 0; i < vecEnd; i++) lanes[i % 8] = f(lanes[i % 8]! + e[i]!);
    let sum: number;
    if (mode === 0 && cols < 8) {
      sum = lanes[0]!;
      for (let l = 1; l < cols; l++) sum = f(sum + lanes[l]!);
    } else {
      const [l0, l1, l2, l3, l4, l5, l6, l7] = lanes as [number, number, number, number, number, number, number, number];
      sum = f(f(f(l0 + l4) + f(l2 + l6)) + f(f(l1 + l5) + f(l3 + l7)));
    }
    for (let i = vecEnd; i < cols; i++) sum = f(sum + e[i]!);
    const inv = f(1 / sum);
    for (let i = 0; i < cols; i++) out[r * cols + i] = R(f(e[i]! * inv), mode);
  }
  return out;
}

function put(k: Kernels, values: Float32Array): number {
  const b = k.allocF32(values.length);
  k.f32(b).set(values);
  return b.ptr;
}

/** Deterministic logits (normal-ish, some rows with large spreads). */
function logits(n: number, seed: number, mode: number): Float32Array {
  let s = seed >>> 0 || 1;
  return new Float32Array(n).map(() => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return R(((s & 0xffff) / 0x8000 - 1) * (s % 5 === 0 ? 40 : 2), mode);
  });
}

describe("the vectorized exp (SLEEF expf u10)", () => {
  it("is within 1 ulp of the correctly rounded exp, and not always equal to it", () => {
    let maxUlp = 0;
    let differ = 0;
    for (let i = 0; i < 20000; i++) {
      const x = f(-103 + i * 0.00515);
      const u = new Int32Array(new Float32Array([sleefExp(x), f(Math.exp(x))]).buffer);
      maxUlp = Math.max(maxUlp, Math.abs(u[0]! - u[1]!));
      if (u[0] !== u[1]) differ++;
    }
    expect(maxUlp).toBe(1);
    expect(differ).toBeGreaterThan(100);
    expect(sleefExp(0)).toBe(1);
    expect(sleefExp(-105)).toBe(0);
    expect(sleefExp(101)).toBe(Infinity);
  });
  it("makes f32 softmax differ from one computed with the correctly rounded exp", async () => {
    const k = await testKernels();
    const x = logits(8 * 200, 99, 0);
    const out = k.allocF32(x.length);
    k.call("misc_softmax_rows", out.ptr, put(k, x), 200, 8, 0);
    const got = k.f32(out);
    let differ = 0;
    for (let r = 0; r < 200; r++) {
      const row = x.subarray(r * 8, r * 8 + 8);
      const m = Math.max(...row);
      const e = Array.from(row, (v) => f(Math.exp(f(v - m))));
      const [l0, l1, l2, l3, l4, l5, l6, l7] = e as [number, number, number, number, number, number, number, number];
      const inv = f(1 / f(f(f(l0 + l4) + f(l2 + l6)) + f(f(l1 + l5) + f(l3 + l7))));
      e.forEach((v, i) => { if (f(v * inv) !== got[r * 8 + i]) differ++; });
    }
    expect(differ).toBeGreaterThan(0);
    expect(sameBits(got, softmaxRef(x, 8, 0))).toBe(true);
  });
});

describe("misc_softmax_rows", () => {
  it("matches the reference for every mode and awkward row length", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const cols of AWKWARD_LENGTHS.filter((c) => c > 0 && c <= 70 || c === 2049)) {
        k.reset();
        const rows = cols > 70 ? 1 : 3;
        const x = logits(rows * cols, cols * 7 + mode, mode);
        const out = k.allocF32(x.length);
        k.call("misc_softmax_rows", out.ptr, put(k, x), rows, cols, mode);
        expect(sameBits(k.f32(out), softmaxRef(x, cols, mode)), `mode ${mode} ${rows}x${cols}`).toBe(true);
      }
    }
  });
  it("gives NaN rows for NaN or all -inf input, like torch", async () => {
    const k = await testKernels();
    const x = new Float32Array([1, NaN, 2, -Infinity, -Infinity, -Infinity]);
    const out = k.allocF32(6);
    k.call("misc_softmax_rows", out.ptr, put(k, x), 2, 3, 1);
    expect([...k.f32(out)].every(Number.isNaN)).toBe(true);
  });
  for (const c of TORCH_CASES.filter((t) => t.kind === "softmax")) {
    it(`equals torch's own softmax: ${c.name}`, async () => {
      const k = await testKernels();
      const x = decodeInput(c.input);
      const want = decodeOutput(c);
      const out = k.allocF32(x.length);
      k.call("misc_softmax_rows", out.ptr, put(k, x), c.rows, c.cols, c.mode);
      expect(sameBits(k.f32(out), want)).toBe(true);
    });
  }
});
