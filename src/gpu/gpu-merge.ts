// The executor's GPU path (--device gpu|auto): for a tensor whose method has a GPU version, read
// the inputs' stored bytes, upload, decode, merge, encode and read back the output's stored bytes.
// A tensor the method declines, or whose GPU result met a value the GPU may not compute exactly
// (FLAG_INEXACT), is left to the CPU path, so the output bytes never depend on the device.
import type { DType } from "../dtype.ts";
import { DTYPES, isDType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import type { MergePlan, PlannedTensor } from "../plan/types.ts";
import { gpuGta } from "./gpu-gta.ts";
import { adapterSummary, GpuKernels } from "./gpu-kernels.ts";
import type { GpuAdapterSummary } from "./gpu-kernels.ts";
import { gpuLinear } from "./gpu-linear.ts";
import { gpuSce } from "./gpu-sce.ts";
import { gpuSlerp } from "./gpu-slerp.ts";
import type { GpuMergeInput, GpuMethod, GpuPlanContext } from "./gpu-method.ts";
import { decodeTensor, encodeTensor, readStored, releaseTensor, uploadStored } from "./gpu-tensor.ts";
import type { GpuTensor } from "./gpu-tensor.ts";
import { navigatorGpu } from "./webgpu-types.ts";
import type { GpuLike } from "./webgpu-types.ts";

export type DeviceChoice = "cpu" | "gpu" | "auto";

export const DEVICE_CHOICES: readonly DeviceChoice[] = ["cpu", "gpu", "auto"];

/**
 * --device auto thresholds (docs/gpu.md). ties: 5.7x faster than one WASM thread at 11.5 M
 * elements on an H200, with about 1 ms of fixed cost per tensor against the CPU's ~50 ns per
 * element, so the GPU pays from roughly 2^18 elements. breadcrumbs runs the same selection passes
 * per task vector (with both bounds). task_arithmetic is elementwise: the CPU runs it in tiles on
 * every core, like linear, so auto keeps it there. DARE, DELLA, sce and slerp are not measured
 * on a GPU yet: auto keeps them on the CPU.
 */
const AUTO_MIN_ELEMENTS_SELECTING = 1 << 18;

/** Methods with a GPU version; the rest always run on the CPU. */
export const GPU_METHODS: Readonly<Record<string, GpuMethod>> = {
  linear: gpuLinear,
  task_arithmetic: gpuGta({ name: "task_arithmetic", consensus: false, autoMinElements: Infinity }),
  ties: gpuGta({ name: "ties", sparsification: "magnitude", consensus: true, autoMinElements: AUTO_MIN_ELEMENTS_SELECTING }),
  breadcrumbs: gpuGta({ name: "breadcrumbs", sparsification: "magnitude_outliers", consensus: false, autoMinElements: AUTO_MIN_ELEMENTS_SELECTING }),
  breadcrumbs_ties: gpuGta({ name: "breadcrumbs_ties", sparsification: "magnitude_outliers", consensus: true, autoMinElements: AUTO_MIN_ELEMENTS_SELECTING }),
  dare_linear: gpuGta({ name: "dare_linear", sparsification: "random", consensus: false, autoMinElements: Infinity }),
  dare_ties: gpuGta({ name: "dare_ties", sparsification: "random", consensus: true, autoMinElements: Infinity }),
  della: gpuGta({ name: "della", sparsification: "della_magprune", consensus: true, autoMinElements: Infinity }),
  della_linear: gpuGta({ name: "della_linear", sparsification: "della_magprune", consensus: false, autoMinElements: Infinity }),
  sce: gpuSce,
  slerp: gpuSlerp,
};

export interface GpuMergeOptions {
  readonly device: DeviceChoice;
  /** The WebGPU entry point (default: navigator.gpu). */
  readonly gpu?: GpuLike;
  /** --device auto: smallest tensor sent to the GPU (default: the method's autoMinElements). */
  readonly minElements?: number;
  /** Elements per GPU chunk (tests use small ones to cross chunk boundaries). */
  readonly chunkElements?: number;
}

export interface GpuMergeStats {
  readonly adapter: string;
  /** Tensors whose output came from the GPU. */
  readonly tensors: number;
  /**
   * Tensors computed on the GPU but redone on the CPU (subnormal, infinite or NaN values, or a
   * float64 sum the host could not certify).
   */
  readonly redone: number;
}

interface TensorRun {
  readonly seed: number;
  readonly fixQuirks: boolean;
  warn(m: string): void;
  quirk(id: string, description: string, tensor: string): void;
}

export class GpuMerger {
  private tensors = 0;
  private redone = 0;
  /** The next tensor's input bytes, read while the GPU works on the current one. */
  private prefetched: { readonly t: PlannedTensor; readonly raw: Promise<Uint8Array[]> } | undefined;

  private constructor(readonly kernels: GpuKernels, private readonly options: GpuMergeOptions) {}

  /**
   * Opens the GPU for a merge: undefined for --device cpu, and for auto without a usable adapter
   * (none, or a fallback/CPU one). --device gpu without an adapter is an error.
   */
  static async open(options: GpuMergeOptions): Promise<GpuMerger | undefined> {
    if (options.device === "cpu") return undefined;
    const gpu = options.gpu ?? navigatorGpu();
    if (!gpu) {
      if (options.device === "auto") return undefined;
      throw new AmalgamError("E_GPU", "--device gpu: this runtime has no WebGPU (navigator.gpu); run Amalgam under Deno or in a browser, or use --device cpu");
    }
    const adapter = await GpuKernels.adapter(gpu);
    if (!adapter) {
      if (options.device === "auto") return undefined;
      throw new AmalgamError("E_GPU", "--device gpu: no GPU adapter found (requestAdapter() returned null); install a Vulkan, Metal or D3D12 driver, or use --device cpu");
    }
    if (options.device === "auto" && adapterSummary(adapter).isFallback) return undefined;
    let k: GpuKernels;
    try {
      k = await GpuKernels.open(adapter, { chunkElements: options.chunkElements });
    } catch (e) {
      if (options.device === "auto") return undefined;
      throw e;
    }
    return new GpuMerger(k, options);
  }

  get adapter(): GpuAdapterSummary {
    return this.kernels.adapter;
  }

  get stats(): GpuMergeStats {
    return { adapter: this.kernels.adapter.description, tensors: this.tensors, redone: this.redone };
  }

  /** Why `t` stays on the CPU, or undefined when it goes to the GPU. */
  declines(plan: MergePlan, t: PlannedTensor): string | undefined {
    const method = GPU_METHODS[plan.method.name];
    if (!method) return `${plan.method.name} has no GPU version`;
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (this.options.device === "auto" && numel < (this.options.minElements ?? method.autoMinElements)) {
      return method.autoMinElements === Infinity ? `${plan.method.name} is faster on the CPU` : "too small to pay for the transfer";
    }
    if (t.sources.some((s) => !isDType(s.tensor.dtype))) return "an input is not F32/BF16/F16";
    if (t.sources.some((s) => s.tensor.shape.length !== t.shape.length || s.tensor.shape.some((d, i) => d !== t.shape[i]))) return "an input's shape differs from the output's";
    return method.declines(planContext(plan, t, this.kernels.chunkElements));
  }

  /**
   * The output tensor's stored bytes, or undefined when the CPU must compute it. `next`, the tensor
   * merged after this one, has its inputs read while the GPU works on this one.
   */
  async mergeTensor(plan: MergePlan, t: PlannedTensor, run: TensorRun, next?: PlannedTensor): Promise<Uint8Array | undefined> {
    if (this.declines(plan, t) !== undefined) return undefined;
    const method = GPU_METHODS[plan.method.name]!;
    const g = this.kernels;
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const pre = this.prefetched;
    this.prefetched = undefined;
    const raw = pre?.t === t ? await pre.raw : await readInputs(t);
    g.beginTensor(method.slots(planContext(plan, t, g.chunkElements)));
    const owned: GpuTensor[] = [];
    const inputs: GpuMergeInput[] = t.sources.map((s, i) => {
      const dtype = s.tensor.dtype as DType;
      const stored = uploadStored(g, raw[i]!, dtype);
      const working = decodeTensor(g, stored, dtype, t.workingDtype);
      releaseTensor(g, stored);
      owned.push(working);
      return { tensor: working, params: s.params, isBase: s.isBase, model: s.model.ref.text };
    });
    raw.length = 0;
    let result: GpuTensor;
    try {
      result = await method.merge({
        gpu: g, tensor: t.name, shape: t.shape, numel, dtype: t.workingDtype, mode: DTYPES[t.workingDtype].code,
        inputs, baseIndex: t.baseIndex, global: t.global, isEmbed: t.isEmbed, seed: run.seed,
        modelIndices: t.sources.map((s) => plan.models.indexOf(s.model)), fixQuirks: run.fixQuirks,
        warn: run.warn, quirk: (id, description) => run.quirk(id, description, t.name),
      });
    } catch (e) {
      await g.read([]).catch(() => {});
      for (const o of owned) releaseTensor(g, o);
      throw e;
    }
    const out = encodeTensor(g, result, t.outDtype);
    if (!owned.includes(result)) releaseTensor(g, result);
    for (const o of owned) releaseTensor(g, o);
    g.submit();
    if (next && this.declines(plan, next) === undefined) {
      const pending = readInputs(next);
      pending.catch(() => {}); // observed when `next` is merged
      this.prefetched = { t: next, raw: pending };
    }
    const { bytes, flags } = await readStored(g, out);
    releaseTensor(g, out);
    if (GpuKernels.inexact(flags)) {
      this.redone++;
      return undefined;
    }
    this.tensors++;
    return bytes;
  }

  close(): void {
    this.kernels.destroy();
  }
}

async function readInputs(t: PlannedTensor): Promise<Uint8Array[]> {
  const raw: Uint8Array[] = [];
  for (const s of t.sources) {
    const bytes = new Uint8Array(s.tensor.byteLength);
    await s.tensor.source.readInto(s.tensor.offset, bytes);
    raw.push(bytes);
  }
  return raw;
}

function planContext(plan: MergePlan, t: PlannedTensor, chunkElements: number): GpuPlanContext {
  return {
    chunkElements,
    tensor: t.name, shapes: t.sources.map((s) => s.tensor.shape), models: t.sources.map((s) => s.model.ref.text),
    baseIndex: t.baseIndex, isEmbed: t.isEmbed, global: t.global, params: t.sources.map((s) => s.params),
  };
}
