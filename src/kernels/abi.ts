// The TypeScript view of the kernel exports (assembly/index.ts). Every kernel returns an i32
// status: 0 = OK, anything else an error code below.

export const KERNEL_OK = 0;
export const KERNEL_E_DTYPE = 1;

export interface KernelExports {
  readonly memory?: WebAssembly.Memory;
  heapBase(): number;
  decode(dst: number, src: number, dtype: number, n: number): number;
  encode(dst: number, src: number, dtype: number, n: number): number;
  round_to(dst: number, src: number, mode: number, n: number): number;
  wsum(out: number, ptrs: number, ws: number, k: number, n: number, mode: number): number;
  mul_scalar(out: number, x: number, s: number, n: number, mode: number): number;
  div_scalar(out: number, x: number, s: number, n: number, mode: number): number;
}

export type KernelName = Exclude<keyof KernelExports, "memory" | "heapBase">;
