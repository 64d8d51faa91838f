// Small helpers shared by the spherical methods: scalar results of reduction kernels, and the
// geometry of "vectors" inside a tensor (whole tensor, rows, or columns).
import type { DType } from "../../dtype.ts";
import type { F32Buf, Kernels } from "../../kernels/kernels.ts";
import { toDType } from "../../kernels/scalar.ts";
import type { MergeContext } from "../types.ts";

/** Runs a kernel that writes `count` float32 results and returns them (a copy). */
export function results(k: Kernels, count: number, run: (out: number) => void): Float32Array {
  const out = k.allocF32(count);
  run(out.ptr);
  return k.f32(out).slice();
}

/** The one float32 a reduction kernel writes. */
export function result(k: Kernels, run: (out: number) => void): number {
  return results(k, 1, run)[0]!;
}

/** A working buffer filled with zeros (the allocator reuses memory). */
export function zeros(k: Kernels, n: number): F32Buf {
  const b = k.allocF32(n);
  k.f32(b).fill(0);
  return b;
}

export function copyOf(k: Kernels, src: F32Buf): F32Buf {
  const b = k.allocF32(src.length);
  k.f32(b).set(k.f32(src));
  return b;
}

/** A float32 math result (a libm call on a float32 argument) rounded to the working dtype. */
export function mathIn(dtype: DType, x: number): number {
  return toDType(Math.fround(x), dtype);
}

/** float32 2-norm of a whole working tensor, as torch.linalg.norm(t.float()) computes it. */
export function norm32(k: Kernels, b: F32Buf): number {
  return result(k, (out) => k.call("torch_norm_rows", out, b.ptr, 1, b.length, 0));
}

/**
 * torch's CPU kernels for sin/cos/acos/clamp/dot do not exist for float16 in torch 1.13, so
 * MergeKit cannot run the method on float16 tensors on CPU; say so once.
 */
export function warnF16(ctx: MergeContext, method: string): void {
  if (ctx.dtype !== "F16") return;
  ctx.warn(`${method}: MergeKit (torch 1.13 on CPU) fails on float16 tensors (no float16 sin/acos/dot kernels); Amalgam computes them with float32 accumulation and float32 trigonometry, rounding each step to float16`);
}
