// Structure-aware PyTorch checkpoints for fuzzing (`torch.save`'s zip layout): tensors are written
// as the pickle torch writes (persistent storage ids, `_rebuild_tensor_v2`, the memo) into a zip of
// stored entries; mutations act on the tensors (sizes, strides, offsets, storage classes), on the
// pickle (forbidden opcodes and globals, truncation, memo references, nesting) and on the zip
// (methods, flags, sizes, offsets, names, the end record), then on the bytes.
import { mutateBytes } from "./mutate-bytes.ts";
import type { Rng } from "./rng.ts";
import { writeStoredZip } from "./zip-writer.ts";

export interface TorchTensorSpec {
  name: string;
  storageClass: string;
  key: string;
  /** Elements of the storage (its header); the data written is `storageBytes` long. */
  numel: number;
  offset: number;
  shape: number[];
  stride: number[];
}

export interface ZipEntrySpec {
  name: string;
  data: Uint8Array;
  method: number;
  flags: number;
  /** Overrides of the sizes and offset the central directory states. */
  size?: number;
  localOffset?: number;
}

export interface TorchGenome {
  readonly tensors: TorchTensorSpec[];
  /** Pickle opcodes spliced in (bytes, at a position among the top-level items). */
  readonly inserts: { at: number; bytes: Uint8Array }[];
  readonly wrapStateDict: boolean;
  readonly storages: Map<string, Uint8Array>;
  /** Zip-level changes applied when rendering. */
  readonly zip: { method?: [string, number]; flags?: [string, number]; size?: [string, number]; offset?: [string, number]; entriesDelta?: number; drop?: string; duplicate?: string; stem: string; comment?: number; truncatePickle?: number };
}

const STORAGE_BYTES: Readonly<Record<string, number>> = { FloatStorage: 4, HalfStorage: 2, BFloat16Storage: 2, DoubleStorage: 8, LongStorage: 8, IntStorage: 4, ByteStorage: 1, BoolStorage: 1, UntypedStorage: 1 };
const ODD_CLASSES = ["ComplexFloatStorage", "Storage", "FloatTensor", "__proto__", "toString"];

const enc = new TextEncoder();

function cat(parts: (number | Uint8Array | string)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p & 0xff);
    else if (typeof p === "string") for (const c of enc.encode(p)) out.push(c);
    else for (const c of p) out.push(c);
  }
  return Uint8Array.from(out);
}

function i32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n | 0, true);
  return b;
}

const X = (s: string) => cat([0x58, i32(enc.encode(s).length), s]);
const G = (m: string, n: string) => cat([0x63, `${m}\n${n}\n`]);
/** An integer as torch pickles it: BININT1/BININT2/BININT, LONG1 beyond 32 bits. */
function int(n: number): Uint8Array {
  if (n >= 0 && n < 256) return cat([0x4b, n]);
  if (n >= 0 && n < 65536) return cat([0x4d, n & 0xff, n >> 8]);
  if (n >= -(2 ** 31) && n < 2 ** 31) return cat([0x4a, i32(n)]);
  const bytes: number[] = [];
  let v = BigInt(n);
  for (let i = 0; i < 8; i++) { bytes.push(Number(v & 0xffn)); v >>= 8n; }
  return cat([0x8a, 8, Uint8Array.from(bytes)]);
}
const tup = (xs: readonly number[]) => cat([0x28, ...xs.map(int), 0x74]);

/** The pickle of a state dict of `tensors`, as torch.save (protocol 2) writes it. */
export function torchPickle(g: TorchGenome): Uint8Array {
  const items: Uint8Array[] = g.tensors.map((t, i) => cat([
    X(t.name), G("torch._utils", "_rebuild_tensor_v2"), 0x71, 2 * i + 1,
    0x28, 0x28, X("storage"), G("torch", t.storageClass), X(t.key), X("cpu"), int(t.numel), 0x74, 0x51,
    int(t.offset), tup(t.shape), tup(t.stride), 0x89, G("collections", "OrderedDict"), 0x29, 0x52, 0x74, 0x52,
  ]));
  for (const ins of g.inserts) items.splice(Math.min(ins.at, items.length), 0, ins.bytes);
  const dict = cat([0x7d, 0x28, ...items, 0x75]);
  const body = g.wrapStateDict ? cat([0x7d, X("state_dict"), dict, 0x73]) : dict;
  return cat([0x80, 2, body, 0x2e]);
}

/** A zip of stored entries, with the genome's zip-level changes. */
export function renderTorch(g: TorchGenome): Uint8Array {
  const stem = g.zip.stem;
  let pkl = torchPickle(g);
  if (g.zip.truncatePickle !== undefined) pkl = pkl.slice(0, Math.min(pkl.length, g.zip.truncatePickle));
  const entries: ZipEntrySpec[] = [{ name: `${stem}/data.pkl`, data: pkl, method: 0, flags: 0 }];
  for (const [k, d] of g.storages) entries.push({ name: `${stem}/data/${k}`, data: d, method: 0, flags: 0 });
  entries.push({ name: `${stem}/version`, data: enc.encode("3\n"), method: 0, flags: 0 }, { name: `${stem}/byteorder`, data: enc.encode("little"), method: 0, flags: 0 });
  const z = g.zip;
  const find = (n: string | undefined) => (n === undefined ? undefined : entries.find((e) => e.name.endsWith(n)));
  if (z.method) { const e = find(z.method[0]); if (e) e.method = z.method[1]; }
  if (z.flags) { const e = find(z.flags[0]); if (e) e.flags = z.flags[1]; }
  if (z.size) { const e = find(z.size[0]); if (e) e.size = z.size[1]; }
  if (z.offset) { const e = find(z.offset[0]); if (e) e.localOffset = z.offset[1]; }
  if (z.drop) { const i = entries.findIndex((e) => e.name.endsWith(z.drop!)); if (i >= 0) entries.splice(i, 1); }
  if (z.duplicate) { const e = find(z.duplicate); if (e) entries.push({ ...e }); }
  return writeStoredZip(entries, { entriesDelta: z.entriesDelta ?? 0, comment: z.comment ?? 0 });
}

/** A valid checkpoint: a few tensors over shared or own storages, contiguous, in bounds. */
export function validTorch(rng: Rng): TorchGenome {
  const tensors: TorchTensorSpec[] = [];
  const storages = new Map<string, Uint8Array>();
  for (let i = 0, n = 1 + rng.small(5); i < n; i++) {
    const storageClass = rng.pick(["FloatStorage", "FloatStorage", "BFloat16Storage", "HalfStorage", "LongStorage"]);
    const shape = Array.from({ length: rng.small(3) }, () => 1 + rng.small(4));
    const stride: number[] = [];
    let s = 1;
    for (let d = shape.length - 1; d >= 0; d--) { stride[d] = s; s *= shape[d]!; }
    const numel = s + rng.small(3);
    const key = String(i);
    const offset = numel - s > 0 ? rng.int(numel - s + 1) : 0;
    storages.set(key, rng.bytes(numel * STORAGE_BYTES[storageClass]!));
    tensors.push({ name: rng.chance(0.9) ? `model.layers.${i}.mlp.weight` : rng.pick(["", "__proto__", "a\u0000b", "x".repeat(300)]), storageClass, key, numel, offset, shape, stride });
  }
  return { tensors, inserts: [], wrapStateDict: rng.chance(0.2), storages, zip: { stem: rng.chance(0.9) ? "archive" : rng.pick(["pytorch_model", "../x", "a/b", ""]) } };
}

/** Opcode sequences a safe reader must refuse or survive. */
const PICKLE_INSERTS: readonly (() => Uint8Array)[] = [
  () => cat([X("k"), G("os", "system"), X("id"), 0x85, 0x52]),
  () => cat([X("k"), G("builtins", "eval"), X("1"), 0x85, 0x52]),
  () => cat([X("k"), 0x28, 0x69, "os\nsystem\n"]),
  () => cat([X("k"), G("collections", "OrderedDict"), 0x29, 0x81]),
  () => cat([X("k"), 0x82, 1]),
  () => cat([X("k"), 0x50, "0\n"]),
  () => cat([X("k"), 0x5d, 0x7d, 0x62]),
  () => cat([X("k"), 0x68, 200]),
  () => cat([X("k"), 0x8a, 9, new Uint8Array(9)]),
  () => cat([X("k"), 0xff]),
  () => cat([X("k"), 0x4e, 0x4e]),
  () => cat([X("k"), 0x74]),
  () => cat([X("k"), 0x58, i32(1 << 30), "abc"]),
  () => cat([X("k"), 0x8c, 200, "x"]),
  () => cat([X("k"), ...new Array<number>(2000).fill(0x5d), ...new Array<number>(1999).fill(0x61)]),
  () => cat([X("k"), ...new Array<number>(5000).fill(0x28)]),
  () => cat([X("k"), 0x8e, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0])]),
  () => cat([X("k"), 0x94]),
  () => cat([X("k"), 0x72, i32(-1)]),
  () => cat([X("k"), G("torch", "FloatStorage"), 0x29, 0x52]),
  () => cat([X("k"), G("torch._utils", "_rebuild_tensor_v2"), 0x29, 0x52]),
  () => cat([X("k"), 0x95, new Uint8Array(8)]),
];

/** One structural mutation. */
export function mutateTorch(rng: Rng, g: TorchGenome): TorchGenome {
  const tensors = g.tensors.map((t) => ({ ...t, shape: [...t.shape], stride: [...t.stride] }));
  const inserts = [...g.inserts];
  const storages = new Map(g.storages);
  const zip = { ...g.zip };
  let wrap = g.wrapStateDict;
  const t = tensors.length ? rng.pick(tensors) : undefined;
  const big = () => rng.pick([-1, 0, 1, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 53, 2 ** 62]);
  switch (rng.int(14)) {
    case 0: if (t) t.numel = rng.chance(0.5) ? big() : t.numel + rng.pick([-1, 1, 1000]); break;
    case 1: if (t) t.offset = rng.chance(0.5) ? big() : t.offset + rng.pick([-1, 1, t.numel]); break;
    case 2: if (t && t.shape.length) { const i = rng.int(t.shape.length); t.shape[i] = rng.chance(0.5) ? big() : t.shape[i]! + 1; } else if (t) t.shape.push(big()); break;
    case 3: if (t && t.stride.length) { const i = rng.int(t.stride.length); t.stride[i] = rng.chance(0.5) ? big() : t.stride[i]! + 1; } break;
    case 4: if (t) { t.shape = Array.from({ length: rng.pick([0, 9, 64]) }, () => 1); t.stride = t.shape.map(() => 1); } break;
    case 5: if (t) t.storageClass = rng.chance(0.5) ? rng.pick(ODD_CLASSES) : rng.pick(Object.keys(STORAGE_BYTES)); break;
    case 6: if (t) t.key = rng.chance(0.5) ? rng.pick(["missing", "../0", "", "0/../0"]) : tensors[rng.int(tensors.length)]!.key; break;
    case 7: inserts.push({ at: rng.int(tensors.length + 1), bytes: rng.pick(PICKLE_INSERTS)() }); break;
    case 8: wrap = !wrap; break;
    case 9: zip.truncatePickle = rng.int(200); break;
    case 10: {
      const target = rng.pick(["data.pkl", "data/0", "version", "byteorder"]);
      const r = rng.int(6);
      if (r === 0) zip.method = [target, rng.pick([8, 12, 99])];
      else if (r === 1) zip.flags = [target, 1];
      else if (r === 2) zip.size = [target, rng.pick([0, 1, 0xffffffff, 0x7fffffff])];
      else if (r === 3) zip.offset = [target, rng.pick([1, 0xffffffff, 0x7fffffff, 100])];
      else if (r === 4) zip.drop = target;
      else zip.duplicate = target;
      break;
    }
    case 11: zip.entriesDelta = rng.pick([-1, 1, 0xffff, 100]); break;
    case 12: zip.comment = rng.pick([1, 100, 65535]); break;
    default: if (storages.size) { const k = rng.pick([...storages.keys()]); const d = storages.get(k)!; storages.set(k, d.slice(0, rng.int(d.length + 1))); } break;
  }
  return { tensors, inserts, wrapStateDict: wrap, storages, zip };
}

export const TORCH_DICTIONARY = ["\u0080\u0002", "PK\u0003\u0004", "PK\u0001\u0002", "PK\u0005\u0006", "data.pkl", "torch\n", "os\nsystem\n", "(", "t", "R", "Q", "X", "J", "\u00ff\u00ff\u00ff\u00ff", "."];

export function havocTorch(rng: Rng, bytes: Uint8Array, other?: Uint8Array): Uint8Array {
  return mutateBytes(rng, bytes, { dictionary: TORCH_DICTIONARY, maxLength: Math.max(4096, bytes.length * 2), other });
}
