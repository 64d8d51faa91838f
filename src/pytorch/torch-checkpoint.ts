// A PyTorch checkpoint (`torch.save`, zip layout, PyTorch >= 1.6): `<stem>/data.pkl` is a pickle of
// the state dict whose tensors point at storages `<stem>/data/<key>`. The pickle is read with the
// allow-list below and nothing is executed; tensor bytes stay in the file and are read later by
// offset, like safetensors.
import { SAFETENSORS_ELEMENT_BYTES } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import type { TensorEntry } from "../io/safetensors-header.ts";
import { MAX_RANK, MAX_TENSORS } from "../io/safetensors-header.ts";
import type { ByteSource } from "../io/storage.ts";
import { MAX_PICKLE_BYTES, readPickle } from "./pickle-reader.ts";
import type { GlobalDef, PickleContext, PickleDict, PickleValue } from "./pickle-reader.ts";
import { entryDataOffset, looksLikeZip, openZip, readEntry } from "./zip-archive.ts";

/** A storage named by a persistent id: ('storage', <torch.*Storage>, key, location, numel). */
export interface TorchStorageRef {
  readonly key: string;
  /** Element dtype of the storage class (safetensors names; U8 for untyped storages). */
  readonly dtype: string;
  readonly numel: number;
}

/** `_rebuild_tensor_v2/v3(storage, offset, size, stride, ...)`, not read yet. */
export interface TorchTensorRef {
  readonly storage: TorchStorageRef;
  readonly dtype: string;
  /** In elements of `dtype`. */
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
}

/** The torch storage classes a checkpoint names, with their element dtype. */
const STORAGE_CLASSES: Readonly<Record<string, string>> = {
  FloatStorage: "F32", DoubleStorage: "F64", HalfStorage: "F16", BFloat16Storage: "BF16",
  LongStorage: "I64", IntStorage: "I32", ShortStorage: "I16", CharStorage: "I8", ByteStorage: "U8", BoolStorage: "BOOL",
  UntypedStorage: "U8",
};

/** torch dtype constants (`_rebuild_tensor_v3`'s dtype argument). */
const DTYPE_CONSTANTS: Readonly<Record<string, string>> = {
  float32: "F32", float: "F32", float64: "F64", double: "F64", float16: "F16", half: "F16", bfloat16: "BF16",
  int64: "I64", long: "I64", int32: "I32", int: "I32", int16: "I16", short: "I16", int8: "I8", uint8: "U8", bool: "BOOL",
  float8_e4m3fn: "F8_E4M3", float8_e5m2: "F8_E5M2",
};

/** Legacy (pre-1.6) torch.save files start with this pickled magic number. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8];

function isTuple(v: PickleValue): v is { kind: "tuple"; items: readonly PickleValue[] } {
  return typeof v === "object" && v !== null && v.kind === "tuple";
}

function isTensor(v: PickleValue): v is { kind: "object"; type: "torch.Tensor"; value: TorchTensorRef } {
  return typeof v === "object" && v !== null && v.kind === "object" && v.type === "torch.Tensor";
}

function intArg(v: PickleValue | undefined, what: string, ctx: PickleContext): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) ctx.fail(`${what} must be a non-negative integer, got ${String(v)}`);
  return v as number;
}

function intTuple(v: PickleValue | undefined, what: string, ctx: PickleContext): number[] {
  if (v === undefined || !isTuple(v)) ctx.fail(`${what} must be a tuple of integers`);
  const items = (v as { items: readonly PickleValue[] }).items;
  if (items.length > MAX_RANK) ctx.fail(`${what} has rank ${items.length}, over the limit of ${MAX_RANK}`);
  return items.map((x, i) => intArg(x, `${what}[${i}]`, ctx));
}

function emptyHooks(v: PickleValue | undefined, ctx: PickleContext): void {
  if (v === undefined || v === null) return;
  if (typeof v === "object" && v.kind === "dict" && v.entries.size === 0) return;
  ctx.fail("tensors with backward hooks are refused");
}

function tensorFrom(storageV: PickleValue | undefined, offsetV: PickleValue | undefined, sizeV: PickleValue | undefined, strideV: PickleValue | undefined, dtype: string | undefined, ctx: PickleContext): PickleValue {
  if (typeof storageV !== "object" || storageV === null || storageV.kind !== "object" || storageV.type !== "torch.storage") ctx.fail("a tensor's first argument must be a storage");
  const storage = (storageV as { value: TorchStorageRef }).value;
  const shape = intTuple(sizeV, "tensor size", ctx);
  const stride = intTuple(strideV, "tensor stride", ctx);
  if (stride.length !== shape.length) ctx.fail(`tensor size ${JSON.stringify(shape)} and stride ${JSON.stringify(stride)} differ in rank`);
  const value: TorchTensorRef = { storage, dtype: dtype ?? storage.dtype, offset: intArg(offsetV, "storage offset", ctx), shape, stride };
  return { kind: "object", type: "torch.Tensor", value };
}

const storageClass = (tag: string): GlobalDef => ({ tag });

/** Every global a state-dict checkpoint may name. Anything else is refused by the reader. */
export const TORCH_GLOBALS: ReadonlyMap<string, GlobalDef> = new Map<string, GlobalDef>([
  ["collections.OrderedDict", {
    call(args, ctx) {
      const d: PickleDict = { kind: "dict", entries: new Map(), type: "collections.OrderedDict" };
      if (args.length === 0) return d;
      const pairs = args[0];
      if (args.length !== 1 || typeof pairs !== "object" || pairs === null || (pairs.kind !== "list" && pairs.kind !== "tuple")) ctx.fail("OrderedDict takes at most a list of pairs");
      for (const kv of (pairs as { items: readonly PickleValue[] }).items) {
        if (!isTuple(kv) || kv.items.length !== 2) ctx.fail("OrderedDict items must be pairs");
        const k = (kv as { items: readonly PickleValue[] }).items[0]!;
        if (typeof k !== "string" && typeof k !== "number") ctx.fail("OrderedDict keys must be strings or integers");
        d.entries.set(k as string | number, (kv as { items: readonly PickleValue[] }).items[1]!);
      }
      return d;
    },
  }],
  ["torch._utils._rebuild_tensor_v2", {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    call(args, ctx) {
      if (args.length < 6 || args.length > 7) ctx.fail(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
      emptyHooks(args[5], ctx);
      return tensorFrom(args[0], args[1], args[2], args[3], undefined, ctx);
    },
  }],
  ["torch._utils._rebuild_tensor_v3", {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
    call(args, ctx) {
      if (args.length < 7 || args.length > 8) ctx.fail(`_rebuild_tensor_v3 takes 7 or 8 arguments, got ${args.length}`);
      emptyHooks(args[5], ctx);
      const d = args[6];
      if (typeof d !== "object" || d === null || d.kind !== "global" || !d.def.tag || !d.module.startsWith("torch") || !(d.name in DTYPE_CONSTANTS)) ctx.fail("_rebuild_tensor_v3's dtype must be a torch dtype");
      return tensorFrom(args[0], args[1], args[2], args[3], (d as { def: GlobalDef }).def.tag, ctx);
    },
  }],
  ["torch._utils._rebuild_parameter", {
    call(args, ctx) {
      if (args.length !== 3 || !isTensor(args[0]!)) ctx.fail("_rebuild_parameter takes (tensor, requires_grad, backward_hooks)");
      emptyHooks(args[2], ctx);
      return args[0]!;
    },
  }],
  ["torch._utils._rebuild_parameter_with_state", {
    call(args, ctx) {
      if (args.length !== 4 || !isTensor(args[0]!)) ctx.fail("_rebuild_parameter_with_state takes (tensor, requires_grad, backward_hooks, state)");
      emptyHooks(args[2], ctx);
      return args[0]!;
    },
  }],
  ["torch._tensor._rebuild_from_type_v2", {
    // (func, new_type, args, state): only plain tensors and parameters without extra state.
    call(args, ctx) {
      const [fn, type, inner, state] = args;
      if (args.length !== 4 || typeof fn !== "object" || fn === null || fn.kind !== "global" || !fn.def.call) ctx.fail("_rebuild_from_type_v2 needs an allowed rebuild function");
      if (typeof type !== "object" || type === null || type.kind !== "global" || type.def.tag !== "tensor-class") ctx.fail("_rebuild_from_type_v2 only rebuilds torch.Tensor and torch.nn.Parameter");
      if (!(state === null || (typeof state === "object" && state.kind === "dict" && state.entries.size === 0))) ctx.fail("tensors with Python attributes are refused");
      if (!isTuple(inner!)) ctx.fail("_rebuild_from_type_v2's arguments must be a tuple");
      const g = fn as { def: GlobalDef };
      return g.def.call!((inner as { items: readonly PickleValue[] }).items, ctx);
    },
  }],
  ["torch.Size", {
    call(args, ctx) {
      if (args.length !== 1 || !isTuple(args[0]!)) ctx.fail("torch.Size takes one tuple");
      return args[0]!;
    },
  }],
  ["torch.Tensor", { tag: "tensor-class" }],
  ["torch.nn.parameter.Parameter", { tag: "tensor-class" }],
  ...Object.entries(STORAGE_CLASSES).map(([n, d]) => [`torch.${n}`, storageClass(d)] as [string, GlobalDef]),
  ...Object.entries(DTYPE_CONSTANTS).map(([n, d]) => [`torch.${n}`, { tag: d }] as [string, GlobalDef]),
]);

function persistentLoad(pid: PickleValue, ctx: PickleContext): PickleValue {
  if (!isTuple(pid) || pid.items.length !== 5 || pid.items[0] !== "storage") ctx.fail("persistent ids must be ('storage', type, key, location, numel) tuples");
  const [, type, key, location, numel] = (pid as { items: readonly PickleValue[] }).items;
  if (typeof type !== "object" || type === null || type.kind !== "global" || !(type.name in STORAGE_CLASSES)) ctx.fail("a storage's type must be a torch storage class");
  if (typeof key !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(key) || key === "." || key === "..") ctx.fail(`storage key ${JSON.stringify(key)} is not a plain name`);
  if (typeof location !== "string") ctx.fail("a storage's location must be a string");
  const ref: TorchStorageRef = { key: key as string, dtype: (type as { def: GlobalDef }).def.tag!, numel: intArg(numel, "storage size", ctx) };
  return { kind: "object", type: "torch.storage", value: ref };
}

export interface TorchCheckpoint {
  /** Tensors in pickle order, with absolute offsets into the file. */
  readonly tensors: ReadonlyMap<string, TensorEntry>;
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i]!;
  }
  return true;
}

/** Reads a `.bin` checkpoint's tensor table (no tensor data). */
export async function readTorchCheckpoint(file: string, src: ByteSource): Promise<TorchCheckpoint> {
  if (!(await looksLikeZip(src))) {
    const head = new Uint8Array(Math.min(src.size, LEGACY_MAGIC.length));
    await src.readInto(0, head);
    if (head.length === LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => head[i] === b)) {
      throw new AmalgamError("E_UNSUPPORTED", `${file}: the legacy torch.save format (PyTorch < 1.6) is not supported; re-save it with a current torch.save or convert it to safetensors`);
    }
    throw new AmalgamError("E_ZIP", `${file}: not a PyTorch checkpoint (torch.save writes a zip archive)`);
  }
  const zip = await openZip(file, src);
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) throw new AmalgamError("E_ZIP", `${file}: expected one <name>/data.pkl in the archive, found ${pkls.length}`);
  const prefix = pkls[0]!.slice(0, -"data.pkl".length);
  const order = zip.entries.get(`${prefix}byteorder`);
  if (order) {
    const b = new TextDecoder().decode(await readEntry(zip, order, 16));
    if (b !== "little") throw new AmalgamError("E_UNSUPPORTED", `${file}: tensors are stored ${b}-endian; only little-endian checkpoints are supported`);
  }
  const pickle = await readEntry(zip, zip.entries.get(pkls[0]!)!, MAX_PICKLE_BYTES);
  let root = readPickle(`${file}/${pkls[0]}`, pickle, { allowed: TORCH_GLOBALS, persistentLoad });
  if (typeof root !== "object" || root === null || root.kind !== "dict") throw new AmalgamError("E_PICKLE", `${file}: the checkpoint is not a dictionary of tensors`);
  const sd = root.entries.get("state_dict");
  if (typeof sd === "object" && sd !== null && sd.kind === "dict") root = sd; // MergeKit unwraps a "state_dict" key
  const dict = root as PickleDict;
  if (dict.entries.size > MAX_TENSORS) throw new AmalgamError("E_PICKLE", `${file}: ${dict.entries.size} entries, over the limit of ${MAX_TENSORS}`);
  const storages = new Map<string, { start: number; size: number }>();
  const tensors = new Map<string, TensorEntry>();
  for (const [name, v] of dict.entries) {
    if (!isTensor(v)) continue; // non-tensor entries (epoch counters, ...) are not weights
    if (typeof name !== "string") throw new AmalgamError("E_PICKLE", `${file}: tensor key ${String(name)} is not a string`);
    const t = v.value;
    const elem = SAFETENSORS_ELEMENT_BYTES[t.dtype];
    if (elem === undefined) throw new AmalgamError("E_PICKLE", `${file}: tensor "${name}" has unknown dtype ${t.dtype}`);
    let numel = 1;
    for (const d of t.shape) numel *= d;
    if (!Number.isSafeInteger(numel)) throw new AmalgamError("E_PICKLE", `${file}: tensor "${name}" has too many elements`);
    if (numel > 0 && !isContiguous(t.shape, t.stride)) {
      throw new AmalgamError("E_UNSUPPORTED", `${file}: tensor "${name}" is not contiguous (shape ${JSON.stringify(t.shape)}, stride ${JSON.stringify(t.stride)}); save it with .contiguous() or convert the checkpoint to safetensors`);
    }
    let st = storages.get(t.storage.key);
    if (!st) {
      const entry = zip.entries.get(`${prefix}data/${t.storage.key}`);
      if (!entry) throw new AmalgamError("E_ZIP", `${file}: storage "${t.storage.key}" of tensor "${name}" is missing from the archive`);
      const want = t.storage.numel * SAFETENSORS_ELEMENT_BYTES[t.storage.dtype]!;
      if (entry.size < want) throw new AmalgamError("E_ZIP", `${file}: storage "${t.storage.key}" has ${entry.size} bytes, its header says ${want}`);
      st = { start: await entryDataOffset(zip, entry), size: entry.size };
      storages.set(t.storage.key, st);
    }
    const byteOffset = t.offset * elem;
    const byteLength = numel * elem;
    if (byteOffset + byteLength > st.size) {
      throw new AmalgamError("E_PICKLE", `${file}: tensor "${name}" (${byteLength} bytes at ${byteOffset}) runs past its ${st.size}-byte storage "${t.storage.key}"`);
    }
    tensors.set(name, { name, dtype: t.dtype, shape: t.shape, offset: st.start + byteOffset, byteLength });
  }
  return { tensors };
}
