// One kernel instance per Worker isolate, used by one merge at a time. An isolate may serve several
// requests at once, and two merges in one 128 MB isolate would double the memory, so merges queue.
// The instance's wasm memory is capped (`maxWasmBytes`): a merge that would grow it past the cap
// fails with E_KERNEL instead of being killed by the runtime; after a merge that grew the memory
// past `keepBytes`, the instance is dropped so the isolate does not keep that memory.
import { AmalgamError } from "../../src/errors.ts";
import { Kernels } from "../../src/kernels/kernels.ts";

export interface IsolateKernelOptions {
  /** Largest wasm memory a merge may use. */
  readonly maxWasmBytes: number;
  /** Keep the instance for the next request only while its memory is at most this. */
  readonly keepBytes?: number;
}

export interface KernelStats {
  /** `memory.buffer.byteLength` of the instance now (0 when none is kept). */
  readonly wasmMemoryBytes: number;
  /** The largest wasm memory any merge in this isolate has had. */
  readonly peakWasmMemoryBytes: number;
  readonly merges: number;
  /** Merges running or queued now. */
  readonly active: number;
}

let instance: WebAssembly.Instance | undefined;
let queue: Promise<unknown> = Promise.resolve();
let peak = 0;
let merges = 0;
let active = 0;

function memoryOf(i: WebAssembly.Instance | undefined): number {
  return i ? (i.exports["memory"] as WebAssembly.Memory).buffer.byteLength : 0;
}

export function kernelStats(): KernelStats {
  return { wasmMemoryBytes: memoryOf(instance), peakWasmMemoryBytes: Math.max(peak, memoryOf(instance)), merges, active };
}

/** Runs `fn` with this isolate's kernels, after any merge already running. */
export function withIsolateKernels<T>(module: WebAssembly.Module, options: IsolateKernelOptions, fn: (k: Kernels) => Promise<T>): Promise<T> {
  const run = async () => {
    instance ??= new WebAssembly.Instance(module, {});
    const whole = new Kernels(instance);
    if (whole.heapStart >= options.maxWasmBytes) throw new AmalgamError("E_KERNEL", `the wasm memory cap of ${options.maxWasmBytes} bytes is below the kernels' own ${whole.heapStart}`);
    const k = whole.withRegion({ start: whole.heapStart, end: options.maxWasmBytes });
    merges++;
    try {
      return await fn(k);
    } catch (e) {
      if (e instanceof AmalgamError && e.code === "E_KERNEL" && /overflow/.test(e.message)) {
        throw new AmalgamError("E_KERNEL", `${e.message}: this Worker caps wasm memory at ${options.maxWasmBytes} bytes (AMALGAM_MAX_WASM_BYTES); methods that are not elementwise hold whole tensors`, { cause: e });
      }
      throw e;
    } finally {
      peak = Math.max(peak, memoryOf(instance));
      if (memoryOf(instance) > (options.keepBytes ?? options.maxWasmBytes)) instance = undefined;
    }
  };
  active++;
  const result = queue.then(run, run).finally(() => { active--; });
  queue = result.catch(() => {});
  return result;
}
