// Layout of a safetensors file as the Python safetensors library writes it: tensor data ordered
// by dtype (widest first) then name, header `{"__metadata__":..., tensors in data order}` padded
// with spaces to a multiple of 8 bytes.
import { DTYPES } from "../dtype.ts";
import type { DType } from "../dtype.ts";

export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

export interface FileLayout {
  /** The 8-byte length prefix followed by the padded header. */
  readonly header: Uint8Array;
  /** Tensors in the order their data follows the header. */
  readonly order: readonly TensorSpec[];
  /** Byte length of each tensor's data, in `order`. */
  readonly sizes: readonly number[];
  readonly totalBytes: number;
}

export function tensorBytes(t: TensorSpec): number {
  let n = DTYPES[t.dtype].bytes;
  for (const d of t.shape) n *= d;
  return n;
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function layoutFile(tensors: readonly TensorSpec[], metadata: Record<string, string> = { format: "pt" }): FileLayout {
  const order = [...tensors].sort((a, b) => DTYPES[b.dtype].layoutRank - DTYPES[a.dtype].layoutRank || byName(a.name, b.name));
  const parts: string[] = [`"__metadata__":${JSON.stringify(metadata)}`];
  const sizes: number[] = [];
  let off = 0;
  for (const t of order) {
    const n = tensorBytes(t);
    sizes.push(n);
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${off},${off + n}]}`);
    off += n;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + padded);
  new DataView(header.buffer).setUint32(0, padded, true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.length);
  return { header, order, sizes, totalBytes: header.length + off };
}
