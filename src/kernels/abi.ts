// The TypeScript view of the kernel exports (assembly/index.ts). Every kernel returns an i32
// status: 0 = OK, anything else an error code below.

export const KERNEL_OK = 0;
export const KERNEL_E_DTYPE = 1;

import type { SphericalKernelExports } from "./abi-spherical.ts";
import type { GtaKernelExports } from "./abi-gta.ts";
import type { MiscKernelExports } from "./abi-misc.ts";
import type { CompanionKernelExports } from "./abi-companion.ts";
import type { ToolsKernelExports } from "./abi-tools.ts";

/** Core kernels; each method family adds its own in abi-<family>.ts. */
export interface CoreKernelExports {
  readonly memory?: WebAssembly.Memory;
  heapBase(): number;
  decode(dst: number, src: number, dtype: number, n: number): number;
  encode(dst: number, src: number, dtype: number, n: number): number;
  round_to(dst: number, src: number, mode: number, n: number): number;
  wsum(out: number, ptrs: number, ws: number, k: number, n: number, mode: number): number;
  wsum_stored(out: number, outDtype: number, ptrs: number, dtypes: number, ws: number, k: number, n: number, mode: number, normalize: number, div: number, acc: number): number;
  cast_stored(out: number, outDtype: number, x: number, inDtype: number, n: number, mode: number): number;
  mul_scalar(out: number, x: number, s: number, n: number, mode: number): number;
  div_scalar(out: number, x: number, s: number, n: number, mode: number): number;
  rng_uniform(out: number, keyLo: number, keyHi: number, start: number, n: number): number;
  rng_bernoulli(out: number, keyLo: number, keyHi: number, start: number, p: number, perElement: number, n: number): number;
}

export interface KernelExports extends CoreKernelExports, SphericalKernelExports, GtaKernelExports, MiscKernelExports, ToolsKernelExports, CompanionKernelExports {}

export type KernelName = {
  [K in keyof KernelExports]-?: NonNullable<KernelExports[K]> extends (...a: number[]) => number ? K : never;
}[keyof KernelExports] & Exclude<keyof KernelExports, "memory" | "heapBase">;
