// Plain TypeScript references for the kernels: obviously-correct, one element at a time.
import { roundBf16, roundF16 } from "../../src/kernels/scalar.ts";

export const MODES = [0, 1, 2] as const;

export function roundRef(x: number, mode: number): number {
  const v = Math.fround(x);
  return mode === 1 ? roundBf16(v) : mode === 2 ? roundF16(v) : v;
}

/** f16 bits of a value (already f16-representable or not): via Math.f16round-free bit logic. */
export function f32ToF16Bits(x: number): number {
  const v = roundF16(x);
  const f = new Float32Array([v]);
  const b = new Uint32Array(f.buffer)[0]!;
  const sign = (b >>> 16) & 0x8000;
  const a = b & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00 | ((a >>> 13) & 0x3ff);
  if (a === 0x7f800000) return sign | 0x7c00;
  if (a >= 0x38800000) return sign | ((a - 0x38000000) >>> 13);
  return sign | Math.round(Math.abs(v) * 2 ** 24);
}

export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function wsumRef(xs: Float32Array[], ws: number[], mode: number): Float32Array {
  const n = xs[0]?.length ?? 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let k = 0; k < xs.length; k++) acc = Math.fround(acc + roundRef(Math.fround(ws[k]! * xs[k]![i]!), mode));
    out[i] = roundRef(acc, mode);
  }
  return out;
}
