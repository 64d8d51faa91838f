// `model+lora`: a model whose weights have a LoRA adapter folded in, computed on the fly. Each
// adapted weight is a ByteSource that, when read, loads W, A and B, forms the delta B.A (float32,
// transposed for embeddings and fan_in_fan_out) and merges it as PEFT's merge_and_unload does on
// CPU: W + (delta * scale cast to W's dtype), in W's dtype. Nothing is written to disk (MergeKit
// writes the merged model to --lora-merge-cache first).
import { DTYPES } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { loadInput } from "../executor/load-input.ts";
import { Kernels } from "../kernels/kernels.ts";
import type { ModelFiles, ModelTensor } from "../io/model-files.ts";
import type { ByteSource, ModelDirectory } from "../io/storage.ts";
import { parseModelRef } from "../config/model-ref.ts";
import type { ModelRef } from "../config/types.ts";
import { openModelFiles } from "../io/model-files.ts";
import type { ResolveModel } from "../io/storage.ts";
import { openLoraAdapter } from "./lora-adapter.ts";
import type { LoraAdapter, LoraModule } from "./lora-adapter.ts";
import { ComputedSource } from "./computed-source.ts";
import { Serial } from "./serial.ts";

/** The kernel instance of one adapted model, made on first use. */
class LoraCompute {
  private kernels: Promise<Kernels> | undefined;
  readonly serial = new Serial();
  constructor(private readonly module: WebAssembly.Module | undefined, private readonly ref: string) {}

  instance(): Promise<Kernels> {
    if (!this.module) throw new AmalgamError("E_UNSUPPORTED", `${this.ref}: applying a LoRA needs the kernel module (pass a WebAssembly.Module as the kernels)`);
    this.kernels ??= Kernels.instantiate(this.module);
    return this.kernels;
  }
}

/** W + scale * delta for one weight (or bias), stored in W's dtype. */
class AdaptedTensor {
  constructor(private readonly base: ModelTensor, private readonly lora: LoraModule, private readonly part: "weight" | "bias", private readonly fanInFanOut: boolean, private readonly compute: LoraCompute) {}

  source(): ByteSource {
    return new ComputedSource(this.base.byteLength, `the adapted tensor "${this.base.name}"`, () => this.compute.serial.run(() => this.merge()));
  }

  private async merge(): Promise<Uint8Array> {
    const k = await this.compute.instance();
    k.reset();
    const dtype = this.base.dtype as DType;
    const mode = DTYPES[dtype].code;
    const w = (await loadInput(k, this.base, dtype, this.base.shape, false)).buf;
    const n = w.length;
    let delta: number;
    if (this.part === "bias") {
      const b = this.lora.bias!;
      if (b.byteLength / DTYPES[b.dtype as DType].bytes !== n) throw new AmalgamError("E_SHAPE", `LoRA bias of "${this.lora.module}" has shape ${JSON.stringify(b.shape)}, the model's bias ${JSON.stringify(this.base.shape)}`);
      delta = (await loadInput(k, b, b.dtype as DType, b.shape, false)).buf.ptr;
    } else {
      const a = (await loadInput(k, this.lora.a, this.lora.a.dtype as DType, this.lora.a.shape, false)).buf;
      const b = (await loadInput(k, this.lora.b, this.lora.b.dtype as DType, this.lora.b.shape, false)).buf;
      const [rows, r] = this.lora.b.shape as [number, number];
      const cols = this.lora.a.shape[1]!;
      const ba = k.alloc(rows * cols * 4);
      k.call("svd_matmul", ba, b.ptr, a.ptr, rows, r, cols, 0);
      delta = ba;
      if (transposed(this.lora, this.fanInFanOut)) {
        delta = k.alloc(rows * cols * 4);
        k.call("svd_transpose", delta, ba, rows, cols);
      }
    }
    k.call("lora_merge", w.ptr, w.ptr, delta, Math.fround(this.lora.scale), n, mode);
    const out = k.alloc(this.base.byteLength);
    k.call("encode", out, w.ptr, mode, n);
    return k.bytes(out, this.base.byteLength).slice();
  }
}

/** PEFT transposes B.A for embeddings always and for linear layers with fan_in_fan_out. */
function transposed(l: LoraModule, fanInFanOut: boolean): boolean {
  return l.embedding || fanInFanOut;
}

function deltaShape(l: LoraModule, fanInFanOut: boolean): number[] {
  const rows = l.b.shape[0]!;
  const cols = l.a.shape[1]!;
  return transposed(l, fanInFanOut) ? [cols, rows] : [rows, cols];
}

/** A directory that closes the adapter's files along with the model's. */
function joinedDir(model: ModelDirectory, adapter: ModelDirectory, ref: string): ModelDirectory {
  return {
    ref,
    has: (n) => model.has(n),
    open: (n) => model.open(n),
    readFile: (n) => model.readFile(n),
    close: async () => {
      await model.close?.();
      await adapter.close?.();
    },
  };
}

/**
 * The model's tensors with the adapter applied: adapted weights and biases are computed when read;
 * modules_to_save tensors replace (or add) model tensors. `module` is the kernel module (one
 * instance is made for this model on first read).
 */
export function applyLora(files: ModelFiles, adapter: LoraAdapter, ref: string, module: WebAssembly.Module | undefined): ModelFiles {
  const compute = new LoraCompute(module, ref);
  const tensors = new Map<string, ModelTensor>(files.tensors);
  const where = `${ref}: adapter ${adapter.dir.ref}`;
  for (const l of adapter.modules.values()) {
    const weight = files.tensors.get(`${l.module}.weight`);
    if (!weight) throw new AmalgamError("E_TENSOR_MISSING", `${where}: module "${l.module}" has no weight "${l.module}.weight" in the model`);
    if (!(weight.dtype in DTYPES)) throw new AmalgamError("E_DTYPE", `${where}: "${weight.name}" is ${weight.dtype}; LoRA can only be applied to F32, BF16 or F16 weights`);
    const shape = deltaShape(l, adapter.fanInFanOut);
    if (weight.shape.length !== 2 || weight.shape[0] !== shape[0] || weight.shape[1] !== shape[1]) {
      throw new AmalgamError("E_SHAPE", `${where}: module "${l.module}" gives a ${JSON.stringify(shape)} delta for the ${JSON.stringify(weight.shape)} weight`);
    }
    tensors.set(weight.name, { ...weight, file: `${weight.file}+lora`, offset: 0, source: new AdaptedTensor(weight, l, "weight", adapter.fanInFanOut, compute).source() });
    if (l.bias) {
      const bias = files.tensors.get(`${l.module}.bias`);
      if (!bias) throw new AmalgamError("E_TENSOR_MISSING", `${where}: module "${l.module}" has a lora_B.bias but the model has no "${l.module}.bias"`);
      tensors.set(bias.name, { ...bias, file: `${bias.file}+lora`, offset: 0, source: new AdaptedTensor(bias, l, "bias", adapter.fanInFanOut, compute).source() });
    }
  }
  for (const [name, t] of adapter.saved) tensors.set(name, { ...t, name });
  return { dir: joinedDir(files.dir, adapter.dir, ref), config: files.config, configNumbers: files.configNumbers, tensors };
}

/** `files` with the adapter that `ref` names (`model+adapter`) applied; the adapter directory is resolved with `resolve`. */
export async function withLoraOf(files: ModelFiles, ref: ModelRef, resolve: ResolveModel, module: WebAssembly.Module | undefined): Promise<ModelFiles> {
  if (!ref.lora) return files;
  const adapterDir = await resolve(ref.lora.revision ? `${ref.lora.path}@${ref.lora.revision}` : ref.lora.path);
  try {
    return applyLora(files, await openLoraAdapter(adapterDir), ref.text, module);
  } catch (e) {
    await adapterDir.close?.().catch(() => {});
    throw e;
  }
}

/**
 * Opens a model reference (`path[@rev][+lora[@rev]]`): the model's files, with the adapter applied
 * when the reference names one.
 */
export async function openModelRef(ref: ModelRef | string, resolve: ResolveModel, module: WebAssembly.Module | undefined, where = "model"): Promise<ModelFiles> {
  const r = typeof ref === "string" ? parseModelRef(ref, where) : ref;
  const dir = await resolve(r.revision ? `${r.path}@${r.revision}` : r.path);
  try {
    return await withLoraOf(await openModelFiles(dir), r, resolve, module);
  } catch (e) {
    await dir.close?.().catch(() => {});
    throw e;
  }
}
