import { readFileSync } from "node:fs";
import { Kernels } from "../../src/kernels/kernels.ts";
import { wasmPath } from "../../runtimes/node/wasm.ts";

let module: WebAssembly.Module | undefined;

/** A fresh single-threaded SIMD kernel instance (its own memory). */
export async function testKernels(): Promise<Kernels> {
  module ??= new WebAssembly.Module(readFileSync(wasmPath()));
  return Kernels.instantiate(module);
}

/** Lengths 0..70 plus a few block-boundary sizes: every SIMD loop's scalar tail gets exercised. */
export const AWKWARD_LENGTHS: readonly number[] = [...Array.from({ length: 71 }, (_, i) => i), 2047, 2048, 2049, 4099];

/** Deterministic values including specials: ±0, ±inf, NaN, subnormals, halfway cases, big and tiny. */
export function testValues(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const specials = [0, -0, Infinity, -Infinity, NaN, 1e-40, -1e-40, 65504, 65520, -65519.99, 6.1e-5, 5.96e-8, 3e38, 1 + 2 ** -8, 1 + 3 * 2 ** -9];
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    if (i % 11 === 5) out[i] = specials[(s >>> 3) % specials.length]!;
    else {
      const mag = 2 ** (((s >>> 8) % 60) - 30);
      out[i] = ((s & 0xffff) / 0x8000 - 1) * mag;
    }
  }
  return out;
}

/** Bitwise equality that treats every NaN as equal to every NaN. */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ua[i] !== ub[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  }
  return true;
}
