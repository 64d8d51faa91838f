// Scalar rounding on the host, identical to the kernels' (assembly/inline/round.ts). Used for
// parameters (weights rounded to the working dtype, as torch does when it stacks them).
import type { DType } from "../dtype.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bits of x as a float32 (a u32). */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}
/** The float32 whose bits are b. */
export function f32FromBits(b: number): number {
  u32[0] = b >>> 0;
  return f32[0]!;
}
const bits = f32Bits;
const fromBits = f32FromBits;

/** float32 value rounded to bfloat16 precision (round to nearest even; NaN stays NaN). */
export function roundBf16(x: number): number {
  const b = bits(x);
  if (Number.isNaN(x)) return fromBits((b | 0x00400000) & 0xffff0000);
  return fromBits(((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000) >>> 0);
}

/** float32 value rounded to float16 precision (round to nearest even, overflow to infinity). */
export function roundF16(x: number): number {
  const v = Math.fround(x);
  if (Number.isNaN(v)) return v;
  const a = Math.abs(v);
  if (a >= 65520) return v < 0 ? -Infinity : Infinity;
  if (a < 6.103515625e-5) {
    const m = v < 0 || Object.is(v, -0) ? -0.5 : 0.5;
    const r = Math.fround(Math.fround(v + m) - m);
    return m < 0 ? -Math.abs(r) : Math.abs(r);
  }
  const b = bits(v);
  return fromBits(((b + 0x0fff + ((b >>> 13) & 1)) & 0xffffe000) >>> 0);
}

/** A number (float64) converted as torch converts a Python float to a tensor of `dtype`. */
export function toDType(x: number, dtype: DType): number {
  const v = Math.fround(x);
  if (dtype === "BF16") return roundBf16(v);
  if (dtype === "F16") return roundF16(v);
  return v;
}
