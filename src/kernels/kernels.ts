import { AmalgamError } from "../errors.ts";
import type { KernelExports, KernelName } from "./abi.ts";
import { KERNEL_OK } from "./abi.ts";

const PAGE = 65536;
const ALIGN = 64;
const MAX_BYTES = 4 * 1024 * 1024 * 1024;

/** Whether a kernel module is the threads build (it imports `env.memory`, shared). */
export function importsMemory(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(module).some((i) => i.module === "env" && i.name === "memory");
}

/** A region of wasm memory holding `length` float32 values (a working tensor). */
export interface F32Buf {
  readonly ptr: number;
  readonly length: number;
}

/**
 * One instance of the kernel module plus a bump allocator over its memory. The host owns all
 * memory above the module's heap base; `reset()` frees everything at once (one tensor's work).
 */
export class Kernels {
  readonly exports: KernelExports;
  readonly memory: WebAssembly.Memory;
  private base: number;
  private top: number;
  private limit: number;
  private peak = 0;

  /**
   * `region` restricts the allocator to [start, end) of a shared memory (a worker's scratch): it
   * then never grows the memory, which only the main thread may do.
   */
  constructor(readonly instance: WebAssembly.Instance, memory?: WebAssembly.Memory, region?: { start: number; end: number }) {
    this.exports = instance.exports as unknown as KernelExports;
    const mem = memory ?? this.exports.memory;
    if (!mem) throw new AmalgamError("E_KERNEL", "kernel module exports no memory and none was given");
    this.memory = mem;
    this.base = region ? region.start : Math.ceil(Math.max(this.exports.heapBase(), PAGE) / PAGE) * PAGE;
    this.limit = region ? region.end : MAX_BYTES;
    this.top = this.base;
  }

  /** Another allocator over the same instance and memory, confined to `region`. */
  withRegion(region: { start: number; end: number }): Kernels {
    return new Kernels(this.instance, this.memory, region);
  }

  /** First byte the allocator may use. */
  get heapStart(): number {
    return this.base;
  }

  /** Moves the start of the allocator (the main thread reserves fixed regions below it). */
  setHeapStart(start: number): void {
    this.base = Math.ceil(start / ALIGN) * ALIGN;
    this.top = this.base;
  }

  /** Grows the memory so that [0, end) exists (main thread only). */
  ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
  }

  /**
   * Instantiates a kernel module: the single-threaded build owns its memory; the threads build
   * imports a shared memory, created here when none is given.
   */
  static async instantiate(module: WebAssembly.Module, shared?: WebAssembly.Memory): Promise<Kernels> {
    if (!importsMemory(module)) return new Kernels(await WebAssembly.instantiate(module, {}));
    const memory = shared ?? new WebAssembly.Memory({ initial: 17, maximum: 65536, shared: true });
    return new Kernels(await WebAssembly.instantiate(module, { env: { memory } }), memory);
  }

  /** Allocates `bytes` (aligned to 64), growing memory if needed. Views made earlier may detach. */
  alloc(bytes: number): number {
    const ptr = Math.ceil(this.top / ALIGN) * ALIGN;
    const end = ptr + bytes;
    if (end > this.limit) {
      throw new AmalgamError("E_KERNEL", this.limit === MAX_BYTES
        ? `a tensor working set of ${end} bytes exceeds the 4 GiB wasm32 address space`
        : `kernel scratch region overflow: ${end - this.base} bytes needed, ${this.limit - this.base} reserved`);
    }
    this.ensure(end);
    this.top = end;
    this.peak = Math.max(this.peak, end);
    return ptr;
  }

  allocF32(length: number): F32Buf {
    return { ptr: this.alloc(length * 4), length };
  }

  /** Frees every allocation (the next tensor reuses the same memory). */
  reset(): void {
    this.top = this.base;
  }

  mark(): number {
    return this.top;
  }

  release(mark: number): void {
    this.top = mark;
  }

  get peakBytes(): number {
    return this.peak;
  }

  bytes(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, length);
  }

  f32(buf: F32Buf): Float32Array {
    return new Float32Array(this.memory.buffer, buf.ptr, buf.length);
  }

  /** Calls a kernel and turns a non-zero status into an error naming it. */
  call<K extends KernelName>(name: K, ...args: Parameters<NonNullable<KernelExports[K]> & ((...a: number[]) => number)>): void {
    const fn = this.exports[name] as unknown as ((...a: number[]) => number) | undefined;
    if (typeof fn !== "function") throw new AmalgamError("E_KERNEL", `kernel ${name} is missing from the module (rebuild with "npm run build:wasm")`);
    const status = fn(...(args as number[]));
    if (status !== KERNEL_OK) throw new AmalgamError("E_KERNEL", `kernel ${name} failed with status ${status}`);
  }

  /** Writes `values` as u32 (pointers) into fresh memory and returns its address. */
  u32Array(values: readonly number[]): number {
    const p = this.alloc(values.length * 4);
    new Uint32Array(this.memory.buffer, p, values.length).set(values);
    return p;
  }

  f32Array(values: readonly number[]): number {
    const p = this.alloc(values.length * 4);
    new Float32Array(this.memory.buffer, p, values.length).set(values);
    return p;
  }
}
