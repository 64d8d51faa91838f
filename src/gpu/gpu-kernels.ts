// One WebGPU device with Amalgam's WGSL kernels: pipelines compiled once, a pool of storage
// buffers, and command recording (dispatches in one compute pass; parameters in a uniform ring
// written just before each submit). Web APIs only.
import { AmalgamError } from "../errors.ts";
import { GPU_KERNELS } from "./kernel-table.ts";
import type { GpuKernelName } from "./kernel-table.ts";
import { FLAG_INEXACT, PARAMS_BYTES, WORKGROUP_SIZE } from "./wgsl-common.ts";
import { SEGMENT, SLOT_WORDS } from "./wgsl-select.ts";
import { BUFFER_USAGE, MAP_READ, SHADER_STAGE_COMPUTE } from "./webgpu-types.ts";
import type {
  GpuAdapterLike, GpuBindGroupLayoutLike, GpuBufferLike, GpuCommandEncoderLike, GpuComputePassLike,
  GpuComputePipelineLike, GpuDeviceLike, GpuLike,
} from "./webgpu-types.ts";

/** Largest binding the kernels use: the WebGPU default of maxStorageBufferBindingSize (128 MiB). */
export const MAX_BINDING_BYTES = 128 * 1024 * 1024;
/** Parameter blocks per uniform ring (one per dispatch); a full ring is submitted. */
const RING_SLOTS = 1024;
/** Selection slots in the state buffer (one per task vector of a tensor), grown on demand. */
const INITIAL_SLOTS = 16;
/** Storage buffers kept for reuse after release, in bytes; more are destroyed. */
const POOL_LIMIT_BYTES = 4 * 1024 * 1024 * 1024;
/** Readback (MAP_READ) buffers kept for reuse, unmapped, in bytes; more are destroyed. */
const STAGING_LIMIT_BYTES = 1024 * 1024 * 1024;

/** What `openGpuKernels` found, for messages and for --device auto. */
export interface GpuAdapterSummary {
  readonly description: string;
  readonly isFallback: boolean;
}

/** Parameters of one dispatch (see Params in wgsl-common.ts); `u` is u0..u7, `f` is f0..f3. */
export interface DispatchParams {
  readonly mode?: number;
  readonly u?: readonly number[];
  readonly f?: readonly number[];
}

/** A region of a storage buffer with `n` elements (4 bytes each), element `base` of its tensor. */
export interface GpuChunk {
  readonly buf: GpuBufferLike;
  readonly n: number;
  readonly base: number;
}

export interface GpuKernelsOptions {
  /** Elements per chunk (a multiple of SEGMENT); default: as many as fit a 128 MiB binding. */
  readonly chunkElements?: number;
}

export function adapterSummary(adapter: GpuAdapterLike): GpuAdapterSummary {
  const info = adapter.info ?? {};
  const description = [info.description, info.vendor && `vendor ${info.vendor}`, info.architecture].filter((s) => s).join(", ") || "unknown adapter";
  return { description, isFallback: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) };
}

interface Pipeline {
  readonly pipeline: GpuComputePipelineLike;
  readonly layout: GpuBindGroupLayoutLike;
}

export class GpuKernels {
  readonly chunkElements: number;
  private readonly maxGroups: number;
  private readonly pipelines = new Map<GpuKernelName, Pipeline>();
  private readonly ring: GpuBufferLike;
  private readonly ringData: Uint8Array;
  private readonly ringView: DataView;
  private readonly ringStride: number;
  private ringUsed = 0;
  private encoder: GpuCommandEncoderLike | undefined;
  private pass: GpuComputePassLike | undefined;
  private stateBuf: GpuBufferLike;
  private stateSlots: number;
  private readonly pool = new Map<number, GpuBufferLike[]>();
  /** Released while commands that use them may still be unsubmitted: pooled at the next submit. */
  private retired: GpuBufferLike[] = [];
  private pooledBytes = 0;
  private readonly stagingPool = new Map<number, GpuBufferLike[]>();
  private stagingBytes = 0;
  private lostMessage: string | undefined;
  private scoped = false;

  private constructor(readonly device: GpuDeviceLike, readonly adapter: GpuAdapterSummary, options: GpuKernelsOptions) {
    const limits = device.limits;
    const maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, MAX_BINDING_BYTES);
    const fit = Math.floor(maxBinding / 4 / SEGMENT) * SEGMENT;
    const chunk = options.chunkElements ?? fit;
    if (!Number.isInteger(chunk) || chunk <= 0 || chunk % SEGMENT !== 0 || chunk > fit) {
      throw new AmalgamError("E_GPU", `GPU chunk of ${chunk} elements: expected a positive multiple of ${SEGMENT} up to ${fit}`);
    }
    this.chunkElements = chunk;
    this.maxGroups = limits.maxComputeWorkgroupsPerDimension;
    this.ringStride = Math.max(256, limits.minUniformBufferOffsetAlignment);
    this.ring = device.createBuffer({ size: RING_SLOTS * this.ringStride, usage: BUFFER_USAGE.UNIFORM | BUFFER_USAGE.COPY_DST, label: "amalgam params" });
    this.ringData = new Uint8Array(RING_SLOTS * this.ringStride);
    this.ringView = new DataView(this.ringData.buffer);
    this.stateSlots = INITIAL_SLOTS;
    this.stateBuf = this.createState(this.stateSlots);
    device.lost?.then((info) => { this.lostMessage = info.message || info.reason || "device lost"; }, () => {});
  }

  /** Opens a device on `adapter` and compiles every kernel. */
  static async open(adapter: GpuAdapterLike, options: GpuKernelsOptions = {}): Promise<GpuKernels> {
    const device = await adapter.requestDevice({ label: "amalgam" });
    const k = new GpuKernels(device, adapterSummary(adapter), options);
    device.pushErrorScope("validation");
    for (const name of Object.keys(GPU_KERNELS) as GpuKernelName[]) k.pipelineOf(name);
    const err = await device.popErrorScope();
    if (err) {
      device.destroy();
      throw new AmalgamError("E_GPU", `the WGSL kernels do not compile on ${k.adapter.description}: ${err.message}`);
    }
    return k;
  }

  /** The high-performance adapter of `gpu`, or undefined when there is none. */
  static async adapter(gpu: GpuLike): Promise<GpuAdapterLike | undefined> {
    return (await gpu.requestAdapter({ powerPreference: "high-performance" })) ?? undefined;
  }

  /** State words: [0] = flags, then SLOT_WORDS per selection slot from word SLOT_WORDS on. */
  get state(): GpuBufferLike {
    return this.stateBuf;
  }

  /** Word offset of selection slot `i` (beginTensor makes room for the slots a tensor needs). */
  slotOffset(i: number): number {
    return SLOT_WORDS * (i + 1);
  }

  /**
   * Starts a tensor: clears the flags, makes room for `slots` selection slots and opens the error
   * scopes that `read` closes. Nothing may be pending.
   */
  beginTensor(slots: number): void {
    if (this.encoder) throw new AmalgamError("E_GPU", "GPU work of the previous tensor is still pending");
    if (slots > this.stateSlots) {
      this.stateBuf.destroy();
      this.stateSlots = Math.max(slots, this.stateSlots * 2);
      this.stateBuf = this.createState(this.stateSlots);
    }
    this.device.queue.writeBuffer(this.stateBuf, 0, new Uint32Array(4));
    if (!this.scoped) {
      // errors of this tensor's commands, popped by read()
      this.device.pushErrorScope("validation");
      this.device.pushErrorScope("out-of-memory");
      this.scoped = true;
    }
  }

  private createState(slots: number): GpuBufferLike {
    return this.device.createBuffer({ size: SLOT_WORDS * (slots + 1) * 4, usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST, label: "amalgam state" });
  }

  private pipelineOf(name: GpuKernelName): Pipeline {
    let p = this.pipelines.get(name);
    if (p) return p;
    const spec = GPU_KERNELS[name];
    const layout = this.device.createBindGroupLayout({
      label: name,
      entries: [
        { binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: "uniform" } },
        { binding: 1, visibility: SHADER_STAGE_COMPUTE, buffer: { type: "storage" } },
        ...spec.bindings.map((b, i) => ({ binding: i + 2, visibility: SHADER_STAGE_COMPUTE, buffer: { type: b === "r" ? "read-only-storage" as const : "storage" as const } })),
      ],
    });
    const pipeline = this.device.createComputePipeline({
      label: name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout], label: name }),
      compute: { module: this.device.createShaderModule({ code: spec.code, label: name }), entryPoint: "main" },
    });
    p = { pipeline, layout };
    this.pipelines.set(name, p);
    return p;
  }

  /** A storage buffer of at least `bytes` (rounded up to 16), from the pool when one fits exactly. */
  buffer(bytes: number): GpuBufferLike {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const free = this.pool.get(size);
    const b = free?.pop();
    if (b) {
      this.pooledBytes -= size;
      return b;
    }
    return this.device.createBuffer({ size, usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST });
  }

  /**
   * Returns buffers to the pool once their last use has been recorded. They become reusable at the
   * next submit: a queue write (upload) into a buffer lands before every unsubmitted command.
   */
  release(...bufs: GpuBufferLike[]): void {
    this.retired.push(...bufs);
    if (!this.encoder) this.recycle();
  }

  private recycle(): void {
    const bufs = this.retired;
    this.retired = [];
    for (const b of bufs) {
      if (this.pooledBytes + b.size > POOL_LIMIT_BYTES) {
        b.destroy();
        continue;
      }
      let list = this.pool.get(b.size);
      if (!list) this.pool.set(b.size, (list = []));
      list.push(b);
      this.pooledBytes += b.size;
    }
  }

  /** Writes bytes into a buffer (a queue write: it lands before the next submit's commands). */
  upload(buf: GpuBufferLike, offset: number, bytes: Uint8Array): void {
    const aligned = bytes.length & ~3;
    if (aligned) this.device.queue.writeBuffer(buf, offset, bytes.subarray(0, aligned));
    if (aligned < bytes.length) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(aligned));
      this.device.queue.writeBuffer(buf, offset + aligned, tail);
    }
  }

  private enc(): GpuCommandEncoderLike {
    return (this.encoder ??= this.device.createCommandEncoder({ label: "amalgam" }));
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  /** Records a buffer clear. */
  clear(buf: GpuBufferLike, offset = 0, size?: number): void {
    this.endPass();
    this.enc().clearBuffer(buf, offset, size ?? buf.size - offset);
  }

  /**
   * Records one dispatch of `name` over `chunk` (P.n, P.base), or of one workgroup when `single`.
   * `bindings` are the kernel's storage buffers after the state.
   */
  dispatch(name: GpuKernelName, chunk: { readonly n: number; readonly base: number }, params: DispatchParams, bindings: readonly GpuBufferLike[], single = false, items = chunk.n): void {
    const spec = GPU_KERNELS[name];
    if (bindings.length !== spec.bindings.length) throw new AmalgamError("E_GPU", `kernel ${name}: ${bindings.length} bindings, expected ${spec.bindings.length}`);
    if (this.ringUsed === RING_SLOTS) this.submit();
    const off = this.ringUsed * this.ringStride;
    const v = this.ringView;
    v.setUint32(off, chunk.n, true);
    v.setUint32(off + 4, chunk.base, true);
    v.setUint32(off + 8, params.mode ?? 0, true);
    v.setUint32(off + 12, 0, true);
    const u = params.u ?? [];
    for (let i = 0; i < 8; i++) v.setUint32(off + (i < 4 ? 16 + 4 * i : 48 + 4 * (i - 4)), (u[i] ?? 0) >>> 0, true);
    const f = params.f ?? [];
    for (let i = 0; i < 4; i++) v.setFloat32(off + 32 + 4 * i, f[i] ?? 0, true);
    this.ringUsed++;
    const p = this.pipelineOf(name);
    const group = this.device.createBindGroup({
      layout: p.layout,
      entries: [
        { binding: 0, resource: { buffer: this.ring, offset: off, size: PARAMS_BYTES } },
        { binding: 1, resource: { buffer: this.stateBuf } },
        ...bindings.map((buffer, i) => ({ binding: i + 2, resource: { buffer } })),
      ],
    });
    this.pass ??= this.enc().beginComputePass({ label: "amalgam" });
    this.pass.setPipeline(p.pipeline);
    this.pass.setBindGroup(0, group);
    const groups = single ? 1 : Math.max(1, Math.min(this.maxGroups, Math.ceil(items / WORKGROUP_SIZE)));
    this.pass.dispatchWorkgroups(groups);
  }

  /** Submits what has been recorded (the parameter ring is written first). */
  submit(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.ringUsed) this.device.queue.writeBuffer(this.ring, 0, this.ringData.subarray(0, this.ringUsed * this.ringStride));
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = undefined;
    this.ringUsed = 0;
    this.recycle();
  }

  /** A MAP_READ buffer of `size` bytes (a multiple of 4), reused from earlier reads when one fits. */
  private takeStaging(size: number): GpuBufferLike {
    const b = this.stagingPool.get(size)?.pop();
    if (b) {
      this.stagingBytes -= size;
      return b;
    }
    return this.device.createBuffer({ size, usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST, label: "amalgam readback" });
  }

  /** Unmaps a read staging buffer and keeps it for the next read of that size (or destroys it). */
  private giveStaging(b: GpuBufferLike, mapped: boolean): void {
    if (!mapped || this.stagingBytes + b.size > STAGING_LIMIT_BYTES) {
      b.destroy();
      return;
    }
    b.unmap();
    let list = this.stagingPool.get(b.size);
    if (!list) this.stagingPool.set(b.size, (list = []));
    list.push(b);
    this.stagingBytes += b.size;
  }

  /**
   * Submits, then reads back `parts` (each `bytes` long from offset 0 of its buffer) and the
   * flags word. The copies land in one staging buffer per part.
   */
  async read(parts: readonly { readonly buf: GpuBufferLike; readonly bytes: number }[]): Promise<{ data: Uint8Array[]; flags: number }> {
    if (this.lostMessage) throw new AmalgamError("E_GPU", `the GPU device was lost: ${this.lostMessage}`);
    this.endPass();
    const enc = this.enc();
    const staging = parts.map((p) => {
      const size = Math.ceil(p.bytes / 4) * 4;
      const s = this.takeStaging(Math.max(4, size));
      if (size) enc.copyBufferToBuffer(p.buf, 0, s, 0, size);
      return s;
    });
    const flagBuf = this.takeStaging(16);
    enc.copyBufferToBuffer(this.stateBuf, 0, flagBuf, 0, 16);
    this.submit();
    const oom = this.scoped ? await this.device.popErrorScope() : null;
    const invalid = this.scoped ? await this.device.popErrorScope() : null;
    this.scoped = false;
    if (oom || invalid) {
      for (const s of staging) s.destroy();
      flagBuf.destroy();
      throw new AmalgamError("E_GPU", `GPU ${oom ? "out of memory" : "validation error"}: ${(oom ?? invalid)!.message}`);
    }
    let mapped = false;
    try {
      await Promise.all([...staging.map((s) => s.mapAsync(MAP_READ)), flagBuf.mapAsync(MAP_READ)]);
      mapped = true;
      const data = staging.map((s, i) => new Uint8Array(s.getMappedRange().slice(0, parts[i]!.bytes)));
      const flags = new Uint32Array(flagBuf.getMappedRange().slice(0, 4))[0]!;
      return { data, flags };
    } finally {
      for (const s of staging) this.giveStaging(s, mapped);
      this.giveStaging(flagBuf, mapped);
    }
  }

  /**
   * Submits, then reads back `bytes` of `buf` from `offset` (both multiples of 4) in the middle of
   * a tensor (a method that needs a value on the host, such as a norm). The tensor's error scopes
   * stay open.
   */
  async readBack(buf: GpuBufferLike, bytes: number, offset = 0): Promise<Uint8Array> {
    if (this.lostMessage) throw new AmalgamError("E_GPU", `the GPU device was lost: ${this.lostMessage}`);
    this.endPass();
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.takeStaging(size);
    if (bytes > 0) this.enc().copyBufferToBuffer(buf, offset, staging, 0, size);
    this.submit();
    let mapped = false;
    try {
      await staging.mapAsync(MAP_READ);
      mapped = true;
      return new Uint8Array(staging.getMappedRange().slice(0, bytes));
    } finally {
      this.giveStaging(staging, mapped);
    }
  }

  /** Marks the current tensor for the CPU (as an inexact value would): the host found it can't be exact. */
  markInexact(): void {
    this.device.queue.writeBuffer(this.stateBuf, 0, new Uint32Array([FLAG_INEXACT]));
  }

  /** Whether the last read's flags say the tensor must be redone on the CPU. */
  static inexact(flags: number): boolean {
    return (flags & FLAG_INEXACT) !== 0;
  }

  destroy(): void {
    this.encoder = undefined;
    this.pass = undefined;
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.pool.clear();
    for (const list of this.stagingPool.values()) for (const b of list) b.destroy();
    this.stagingPool.clear();
    this.device.destroy();
  }
}
