// The subset of the WebGPU API (https://www.w3.org/TR/webgpu/) that Amalgam uses, typed
// structurally: TypeScript's DOM library has no WebGPU types, and any conforming implementation
// (Deno's navigator.gpu, a browser's, the `webgpu` package for Node) satisfies these.

/** GPUBufferUsage flags (spec values). */
export const BUFFER_USAGE = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

/** GPUMapMode.READ. */
export const MAP_READ = 0x0001;
/** GPUShaderStage.COMPUTE. */
export const SHADER_STAGE_COMPUTE = 0x4;

export interface GpuLike {
  requestAdapter(options?: { powerPreference?: "low-power" | "high-performance" }): Promise<GpuAdapterLike | null>;
}

export interface GpuAdapterInfoLike {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
  readonly isFallbackAdapter?: boolean;
}

export interface GpuLimitsLike {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly minUniformBufferOffsetAlignment: number;
  readonly maxStorageBuffersPerShaderStage: number;
}

export interface GpuAdapterLike {
  readonly info?: GpuAdapterInfoLike;
  /** Older spelling, before it moved to `info`. */
  readonly isFallbackAdapter?: boolean;
  readonly limits: GpuLimitsLike;
  requestDevice(descriptor?: { label?: string }): Promise<GpuDeviceLike>;
}

export interface GpuBufferLike {
  readonly size: number;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

export interface GpuBindGroupLayoutLike {
  readonly label?: string;
}

export interface GpuBindGroupLike {
  readonly label?: string;
}

export interface GpuPipelineLayoutLike {
  readonly label?: string;
}

export interface GpuComputePipelineLike {
  readonly label?: string;
}

export interface GpuShaderModuleLike {
  readonly label?: string;
}

export interface GpuBufferBindingLayoutLike {
  readonly type: "uniform" | "storage" | "read-only-storage";
}

export interface GpuBindGroupLayoutEntryLike {
  readonly binding: number;
  readonly visibility: number;
  readonly buffer: GpuBufferBindingLayoutLike;
}

export interface GpuBindGroupEntryLike {
  readonly binding: number;
  readonly resource: { readonly buffer: GpuBufferLike; readonly offset?: number; readonly size?: number };
}

export interface GpuComputePassLike {
  setPipeline(pipeline: GpuComputePipelineLike): void;
  setBindGroup(index: number, group: GpuBindGroupLike): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}

export interface GpuCommandBufferLike {
  readonly label?: string;
}

export interface GpuCommandEncoderLike {
  beginComputePass(descriptor?: { label?: string }): GpuComputePassLike;
  copyBufferToBuffer(src: GpuBufferLike, srcOffset: number, dst: GpuBufferLike, dstOffset: number, size: number): void;
  clearBuffer(buffer: GpuBufferLike, offset?: number, size?: number): void;
  finish(): GpuCommandBufferLike;
}

export interface GpuQueueLike {
  submit(buffers: GpuCommandBufferLike[]): void;
  writeBuffer(buffer: GpuBufferLike, offset: number, data: ArrayBufferView | ArrayBuffer): void;
  onSubmittedWorkDone(): Promise<void>;
}

export interface GpuErrorLike {
  readonly message: string;
}

export interface GpuDeviceLike {
  readonly queue: GpuQueueLike;
  readonly limits: GpuLimitsLike;
  readonly lost?: Promise<{ readonly message: string; readonly reason?: string }>;
  createBuffer(descriptor: { size: number; usage: number; label?: string; mappedAtCreation?: boolean }): GpuBufferLike;
  createShaderModule(descriptor: { code: string; label?: string }): GpuShaderModuleLike;
  createBindGroupLayout(descriptor: { entries: GpuBindGroupLayoutEntryLike[]; label?: string }): GpuBindGroupLayoutLike;
  createPipelineLayout(descriptor: { bindGroupLayouts: GpuBindGroupLayoutLike[]; label?: string }): GpuPipelineLayoutLike;
  createComputePipeline(descriptor: {
    layout: GpuPipelineLayoutLike;
    compute: { module: GpuShaderModuleLike; entryPoint: string };
    label?: string;
  }): GpuComputePipelineLike;
  createBindGroup(descriptor: { layout: GpuBindGroupLayoutLike; entries: GpuBindGroupEntryLike[]; label?: string }): GpuBindGroupLike;
  createCommandEncoder(descriptor?: { label?: string }): GpuCommandEncoderLike;
  pushErrorScope(filter: "validation" | "out-of-memory" | "internal"): void;
  popErrorScope(): Promise<GpuErrorLike | null>;
  destroy(): void;
}

/** `navigator.gpu` where the runtime has one (Deno, browsers), else undefined (Node, Bun, Workers). */
export function navigatorGpu(): GpuLike | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  return nav?.gpu ?? undefined;
}
