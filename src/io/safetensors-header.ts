// Parsing of safetensors headers from untrusted files: every size bounded by a named limit,
// every offset checked against the real file size.
import { AmalgamError } from "../errors.ts";
import { SAFETENSORS_ELEMENT_BYTES } from "../dtype.ts";
import type { ByteSource } from "./storage.ts";
import { parseBoundedJson } from "./bounded-json.ts";
import type { JsonLimits, JsonValue } from "./bounded-json.ts";

/** Header JSON larger than this is refused: real headers are < 2 MiB even for 100k tensors (the Rust reader's limit is 100 MB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** More tensors than this in one file is refused (largest known checkpoints have < 50k). */
export const MAX_TENSORS = 1_000_000;
/** Tensors of higher rank do not occur in checkpoints; refuse before computing sizes. */
export const MAX_RANK = 8;
/** Element counts must stay exact in float64 arithmetic. */
export const MAX_ELEMENTS = Number.MAX_SAFE_INTEGER;
/** A header nests three levels (header, tensor entry, shape); anything deeper is not a safetensors header. */
export const MAX_HEADER_DEPTH = 4;
/** Longer arrays than this never occur in a header (shapes have rank <= 8, offsets 2 items). */
export const MAX_HEADER_ARRAY = 64;

const HEADER_LIMITS: JsonLimits = { maxLength: MAX_HEADER_BYTES, maxDepth: MAX_HEADER_DEPTH, maxKeys: MAX_TENSORS + 1, maxItems: MAX_HEADER_ARRAY };

export interface TensorEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Absolute byte offset of the data in the file. */
  readonly offset: number;
  readonly byteLength: number;
}

export interface SafetensorsHeader {
  readonly file: string;
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly dataStart: number;
}

function fail(file: string, msg: string): never {
  throw new AmalgamError("E_SAFETENSORS", `${file}: ${msg}`);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Reads and validates the header of a safetensors file. */
export async function readSafetensorsHeader(file: string, src: ByteSource): Promise<SafetensorsHeader> {
  if (src.size < 8) fail(file, `file is ${src.size} bytes, too short for a safetensors header`);
  const lenBytes = new Uint8Array(8);
  await src.readInto(0, lenBytes);
  const view = new DataView(lenBytes.buffer);
  const hi = view.getUint32(4, true);
  const lo = view.getUint32(0, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (headerLen > MAX_HEADER_BYTES) fail(file, `header length ${headerLen} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  if (8 + headerLen > src.size) fail(file, `header length ${headerLen} runs past the end of the ${src.size}-byte file`);
  const raw = new Uint8Array(headerLen);
  await src.readInto(8, raw);
  return parseSafetensorsHeader(file, raw, src.size);
}

/**
 * Validates header JSON bytes for a file of `fileSize` bytes, as strictly as the Rust reader:
 * known dtypes, byte lengths that match dtype and shape, and tensor data that tiles the data
 * section exactly (no overlap, no gap, nothing after the last tensor).
 */
export function parseSafetensorsHeader(file: string, raw: Uint8Array, fileSize: number): SafetensorsHeader {
  let parsed: JsonValue;
  try {
    parsed = parseBoundedJson(raw, file, "E_SAFETENSORS", HEADER_LIMITS);
  } catch (e) {
    if (!(e instanceof AmalgamError)) throw e;
    fail(file, `header is not valid UTF-8 JSON (${e.message.slice(file.length + 2)})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) fail(file, "header is not a JSON object");
  const json = parsed;
  const dataStart = 8 + raw.length;
  const dataSize = fileSize - dataStart;
  const entries = Object.entries(json);
  if (entries.length > MAX_TENSORS + 1) fail(file, `header lists ${entries.length} entries, over the limit of ${MAX_TENSORS}`);
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, value] of entries) {
    if (name === "__metadata__") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) fail(file, "__metadata__ is not an object");
      metadata = {};
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== "string") fail(file, `__metadata__.${k} is not a string`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (typeof value !== "object" || value === null || Array.isArray(value)) fail(file, `${where}: entry is not an object`);
    for (const k of Object.keys(value)) {
      if (k !== "dtype" && k !== "shape" && k !== "data_offsets") fail(file, `${where}: unexpected key ${JSON.stringify(k)}`);
    }
    const dtype = value["dtype"];
    if (typeof dtype !== "string" || !Object.hasOwn(SAFETENSORS_ELEMENT_BYTES, dtype)) fail(file, `${where}: unknown dtype ${JSON.stringify(dtype) ?? "(missing)"}`);
    const shape = value["shape"];
    if (!Array.isArray(shape)) fail(file, `${where}: shape is not an array`);
    if (shape.length > MAX_RANK) fail(file, `${where}: rank ${shape.length} exceeds the limit of ${MAX_RANK}`);
    let n = 1;
    for (const d of shape) {
      if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) fail(file, `${where}: bad dimension ${JSON.stringify(d)} in shape`);
      n *= d;
      if (n > MAX_ELEMENTS) fail(file, `${where}: shape ${JSON.stringify(shape)} has too many elements`);
    }
    const offs = value["data_offsets"];
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)) {
      fail(file, `${where}: data_offsets must be two non-negative integers`);
    }
    const [b, e] = offs as [number, number];
    if (e < b) fail(file, `${where}: data_offsets [${b}, ${e}] end before they begin`);
    if (e > dataSize) fail(file, `${where}: data_offsets [${b}, ${e}] run past the ${Math.max(0, dataSize)} data bytes of the file`);
    const expect = n * SAFETENSORS_ELEMENT_BYTES[dtype]!;
    if (e - b !== expect) fail(file, `${where}: ${e - b} data bytes, but ${dtype}${JSON.stringify(shape)} needs ${expect}`);
    tensors.set(name, { name, dtype, shape: shape as number[], offset: dataStart + b, byteLength: e - b });
    spans.push([b, e, name]);
  }
  // The data section must be tiled exactly: sorted by offsets, each tensor starts where the last ended.
  spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let end = 0;
  let last = "";
  for (const [b, e, name] of spans) {
    if (b < end) fail(file, `tensors ${JSON.stringify(last)} and ${JSON.stringify(name)} overlap in the data section`);
    if (b > end) fail(file, `tensor ${JSON.stringify(name)}: data_offsets start at ${b}, leaving bytes ${end}..${b} of the data section unused`);
    end = e;
    last = name;
  }
  if (end !== dataSize) fail(file, `tensor data ends at byte ${end} of the data section, but the file has ${dataSize} data bytes after the header`);
  return { file, tensors, metadata, dataStart };
}
