// misc_row_sum, misc_row_norm and misc_stack_sum: torch's CPU summation orders, checked against a
// plain restatement of torch's loops (SumKernel.cpp's multi_row_sum / row_sum, one element at a
// time) and against values computed by torch itself (misc-torch-vectors.ts).
import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { decodeOutput, decodeInput, TORCH_CASES } from "./misc-torch-vectors.ts";

const R = roundRef;
const f = Math.fround;
type Lanes = number[];

function ceilLog2(x: number): number {
  return x <= 2 ? 1 : (x - 1).toString(2).length;
}

function add(a: Lanes, b: Lanes): Lanes {
  return a.map((x, i) => f(x + b[i]!));
}

/** SumKernel.cpp multi_row_sum: `nrows` streams, 4 levels moved up every 2^(level * p) groups. */
function multiRowSum(load: (i: number, k: number) => Lanes, nrows: number, size: number, lanes: number): Lanes[] {
  const zero = () => new Array<number>(lanes).fill(0);
  const p = Math.max(4, Math.floor(ceilLog2(size) / 4));
  const step = 2 ** p;
  const acc = [0, 1, 2, 3].map(() => Array.from({ length: nrows }, zero));
  let i = 0;
  while (i + step <= size) {
    for (let j = 0; j < step; j++, i++) for (let k = 0; k < nrows; k++) acc[0]![k] = add(acc[0]![k]!, load(i, k));
    for (let j = 1; j < 4; j++) {
      for (let k = 0; k < nrows; k++) {
        acc[j]![k] = add(acc[j]![k]!, acc[j - 1]![k]!);
        acc[j - 1]![k] = zero();
      }
      if ((i & ((step - 1) * 2 ** (j * p))) !== 0) break;
    }
  }
  for (; i < size; i++) for (let k = 0; k < nrows; k++) acc[0]![k] = add(acc[0]![k]!, load(i, k));
  for (let j = 1; j < 4; j++) for (let k = 0; k < nrows; k++) acc[0]![k] = add(acc[0]![k]!, acc[j]![k]!);
  return acc[0]!;
}

/** SumKernel.cpp row_sum: ILP 4 streams, leftovers into stream 0, then 0 + 1 + 2 + 3. */
function rowSum(load: (i: number) => Lanes, size: number, lanes: number): Lanes {
  const groups = Math.floor(size / 4);
  const part = multiRowSum((g, k) => load(4 * g + k), 4, groups, lanes);
  for (let i = groups * 4; i < size; i++) part[0] = add(part[0]!, load(i));
  for (let k = 1; k < 4; k++) part[0] = add(part[0]!, part[k]!);
  return part[0]!;
}

/** cascade_sum of one row (vectorized_inner_sum / scalar_inner_sum), before the final rounding. */
function innerSumRef(x: Float32Array, mode: number): number {
  const pairs = mode !== 0;
  const vn = pairs ? 16 : 8;
  if (x.length < vn) return rowSum((i) => [x[i]!], x.length, 1)[0]!;
  const vecs = Math.floor(x.length / vn);
  const load = (v: number): Lanes => Array.from({ length: 8 }, (_, l) => (pairs ? f(f(0 + x[v * 16 + 2 * l]!) + x[v * 16 + 2 * l + 1]!) : x[v * 8 + l]!));
  const lanes = rowSum(load, vecs, 8);
  let s = 0;
  for (let i = vecs * vn; i < x.length; i++) s = f(s + x[i]!);
  for (const l of lanes) s = f(s + l);
  return s;
}

function normRef(x: Float32Array, mode: number): number {
  let acc = 0;
  if (mode === 2) {
    for (const v of x) acc = f(acc + f(v * v));
  } else {
    const end = x.length - (x.length % (mode === 0 ? 8 : 16));
    const lanes = new Array<number>(8).fill(0);
    for (let i = 0; i < end; i++) lanes[i % 8] = f(lanes[i % 8]! + f(x[i]! * x[i]!));
    acc = lanes[0]!;
    for (let l = 1; l < 8; l++) acc = f(acc + lanes[l]!);
    for (let i = end; i < x.length; i++) acc = f(acc + f(x[i]! * x[i]!));
  }
  return R(Math.sqrt(acc), mode);
}

/** x.sum(0) of K stacked tensors: vectorized_outer_sum / scalar_outer_sum column orders. */
function stackSumRef(xs: Float32Array[], n: number, mode: number): Float32Array {
  const vn = mode === 0 ? 8 : 16;
  const cascadeEnd = n >= vn ? n - (n % 32) : n - (n % 4);
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const acc = j < cascadeEnd
      ? multiRowSum((i) => [xs[i]![j]!], 1, xs.length, 1)[0]![0]!
      : rowSum((i) => [xs[i]![j]!], xs.length, 1)[0]!;
    out[j] = R(0 + acc, mode);
  }
  return out;
}

function put(k: Kernels, values: Float32Array): number {
  const b = k.allocF32(values.length);
  k.f32(b).set(values);
  return b.ptr;
}

/** Finite values of wide magnitude (the order of a long sum shows in the last bits). */
function wide(n: number, seed: number, mode: number): Float32Array {
  return testValues(n, seed).map((x, i) => R(Number.isFinite(x) && Math.abs(x) < 1e30 ? x : (i % 7) - 3.25, mode));
}

describe("misc_row_sum", () => {
  it("follows cascade_sum's order for every mode, length and row count", async () => {
    const k = await testKernels();
    const lengths = [...AWKWARD_LENGTHS, 1000, 8191, 20000];
    for (const mode of MODES) {
      for (const cols of lengths) {
        for (const rows of cols > 2049 ? [1] : [1, 3]) {
          k.reset();
          const x = wide(rows * cols, cols * 3 + mode, mode);
          const out = k.allocF32(rows);
          k.call("misc_row_sum", out.ptr, put(k, x), rows, cols, mode);
          const want = new Float32Array(rows).map((_, r) => R(0 + innerSumRef(x.subarray(r * cols, (r + 1) * cols), mode), mode));
          expect(sameBits(k.f32(out), want), `mode ${mode} ${rows}x${cols}`).toBe(true);
        }
      }
    }
  });
  it("propagates NaN and infinities", async () => {
    const k = await testKernels();
    const x = new Float32Array(40).fill(1);
    x[3] = Infinity;
    const out = k.allocF32(1);
    k.call("misc_row_sum", out.ptr, put(k, x), 1, 40, 1);
    expect(k.f32(out)[0]).toBe(Infinity);
    x[5] = -Infinity;
    k.call("misc_row_sum", out.ptr, put(k, x), 1, 40, 1);
    expect(k.f32(out)[0]).toBeNaN();
  });
});

describe("misc_row_norm", () => {
  it("follows torch's norm order (8 lanes; f16 sequential) for every mode and length", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const cols of [...AWKWARD_LENGTHS, 1000]) {
        k.reset();
        const rows = cols > 70 ? 1 : 2;
        const x = wide(rows * cols, cols + 17 * mode, mode).map((v) => R(v / 1e6, mode));
        const out = k.allocF32(rows);
        k.call("misc_row_norm", out.ptr, put(k, x), rows, cols, mode);
        const want = new Float32Array(rows).map((_, r) => normRef(x.subarray(r * cols, (r + 1) * cols), mode));
        expect(sameBits(k.f32(out), want), `mode ${mode} ${rows}x${cols}`).toBe(true);
      }
    }
  });
});

describe("misc_stack_sum", () => {
  it("follows the dim-0 column orders for K = 1..70 stacked tensors", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const count of [1, 2, 3, 4, 5, 17, 70]) {
        for (const n of [...AWKWARD_LENGTHS.slice(0, 71), 2049]) {
          if (count > 5 && n % 5 !== 0 && n !== 2049) continue;
          k.reset();
          const xs = Array.from({ length: count }, (_, i) => wide(n, 13 * i + n + mode, mode));
          const out = k.allocF32(n);
          k.call("misc_stack_sum", out.ptr, k.u32Array(xs.map((x) => put(k, x))), count, n, mode);
          expect(sameBits(k.f32(out), stackSumRef(xs, n, mode)), `mode ${mode} K ${count} n ${n}`).toBe(true);
        }
      }
    }
  });
});

describe("torch's own results (torch 2.11 CPU, AVX2 kernels, one thread)", () => {
  for (const c of TORCH_CASES.filter((t) => t.kind !== "softmax")) {
    it(`${c.kind}: ${c.name}`, async () => {
      const k = await testKernels();
      const x = decodeInput(c.input);
      const want = decodeOutput(c);
      const out = k.allocF32(want.length);
      if (c.kind === "stack_sum") {
        const ptrs = Array.from({ length: c.rows }, (_, i) => put(k, x.subarray(i * c.cols, (i + 1) * c.cols)));
        k.call("misc_stack_sum", out.ptr, k.u32Array(ptrs), c.rows, c.cols, c.mode);
      } else {
        k.call(c.kind === "row_sum" ? "misc_row_sum" : "misc_row_norm", out.ptr, put(k, x), c.rows, c.cols, c.mode);
      }
      expect(sameBits(k.f32(out), want)).toBe(true);
    });
  }
});

