// Parsing of safetensors headers from untrusted files: every size bounded by a named limit,
// every offset checked against the real file size.
import { AmalgamError } from "../errors.ts";
import { SAFETENSORS_ELEMENT_BYTES } from "../dtype.ts";
import type { ByteSource } from "./storage.ts";

/** Header JSON larger than this is refused: real headers are < 2 MiB even for 100k tensors. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** More tensors than this in one file is refused (largest known checkpoints have < 50k). */
export const MAX_TENSORS = 1_000_000;
/** Tensors of higher rank do not occur in checkpoints; refuse before computing sizes. */
export const MAX_RANK = 8;
/** Element counts must stay exact in float64 arithmetic. */
export const MAX_ELEMENTS = Number.MAX_SAFE_INTEGER;

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

/** Validates header JSON bytes for a file of `fileSize` bytes. */
export function parseSafetensorsHeader(file: string, raw: Uint8Array, fileSize: number): SafetensorsHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (e) {
    fail(file, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail(file, "header is not a JSON object");
  const dataStart = 8 + raw.length;
  const dataSize = fileSize - dataStart;
  const entries = Object.entries(json as Record<string, unknown>);
  if (entries.length > MAX_TENSORS + 1) fail(file, `header lists ${entries.length} entries, over the limit of ${MAX_TENSORS}`);
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, value] of entries) {
    if (name === "__metadata__") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) fail(file, "__metadata__ is not an object");
      metadata = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") fail(file, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof value !== "object" || value === null) fail(file, `tensor "${name}": entry is not an object`);
    const v = value as Record<string, unknown>;
    const dtype = v["dtype"];
    if (typeof dtype !== "string" || !(dtype in SAFETENSORS_ELEMENT_BYTES)) fail(file, `tensor "${name}": unknown dtype ${JSON.stringify(dtype)}`);
    const shape = v["shape"];
    if (!Array.isArray(shape)) fail(file, `tensor "${name}": shape is not an array`);
    if (shape.length > MAX_RANK) fail(file, `tensor "${name}": rank ${shape.length} exceeds the limit of ${MAX_RANK}`);
    let n = 1;
    for (const d of shape) {
      if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) fail(file, `tensor "${name}": bad dimension ${JSON.stringify(d)} in shape`);
      n *= d;
      if (n > MAX_ELEMENTS) fail(file, `tensor "${name}": shape ${JSON.stringify(shape)} has too many elements`);
    }
    const offs = v["data_offsets"];
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)) {
      fail(file, `tensor "${name}": data_offsets must be two non-negative integers`);
    }
    const [b, e] = offs as [number, number];
    if (e < b) fail(file, `tensor "${name}": data_offsets [${b}, ${e}] end before they begin`);
    if (e > dataSize) fail(file, `tensor "${name}": data_offsets [${b}, ${e}] run past the ${dataSize} data bytes of the file`);
    const expect = n * SAFETENSORS_ELEMENT_BYTES[dtype]!;
    if (e - b !== expect) fail(file, `tensor "${name}": ${e - b} data bytes, but ${dtype}${JSON.stringify(shape)} needs ${expect}`);
    for (const k of Object.keys(v)) {
      if (k !== "dtype" && k !== "shape" && k !== "data_offsets") fail(file, `tensor "${name}": unexpected key "${k}"`);
    }
    tensors.set(name, { name, dtype, shape: shape as number[], offset: dataStart + b, byteLength: e - b });
    if (e > b) spans.push([b, e, name]);
  }
  spans.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    if (cur[0] < prev[1]) fail(file, `tensors "${prev[2]}" and "${cur[2]}" overlap in the data section`);
  }
  return { file, tensors, metadata, dataStart };
}
