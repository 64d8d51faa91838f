// Reads a whole output folder's tensors (tests only): name -> {dtype, shape, raw bytes, float values}.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseSafetensorsHeader } from "../../src/io/safetensors-header.ts";
import { f16BitsToF32 } from "./reference.ts";

export interface ReadTensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly raw: Uint8Array;
  readonly file: string;
}

export function readTensors(dir: string): Map<string, ReadTensor> {
  const out = new Map<string, ReadTensor>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".safetensors")).sort()) {
    const bytes = readFileSync(join(dir, f));
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
    const h = parseSafetensorsHeader(f, bytes.subarray(8, 8 + n), bytes.length);
    for (const [name, e] of h.tensors) out.set(name, { dtype: e.dtype, shape: e.shape, raw: bytes.subarray(e.offset, e.offset + e.byteLength), file: f });
  }
  return out;
}

export function values(t: ReadTensor): Float64Array {
  const dv = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength);
  const w = t.dtype === "F32" ? 4 : 2;
  const n = t.raw.byteLength / w;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (t.dtype === "F32") out[i] = dv.getFloat32(i * 4, true);
    else if (t.dtype === "BF16") out[i] = new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0]!;
    else out[i] = f16BitsToF32(dv.getUint16(i * 2, true));
  }
  return out;
}

/** Largest distance in units of the last place between two same-dtype tensors (0 = identical). */
export function maxUlp(a: ReadTensor, b: ReadTensor): number {
  const w = a.dtype === "F32" ? 4 : 2;
  const n = a.raw.byteLength / w;
  const da = new DataView(a.raw.buffer, a.raw.byteOffset, a.raw.byteLength);
  const db = new DataView(b.raw.buffer, b.raw.byteOffset, b.raw.byteLength);
  const ord = (dv: DataView, i: number) => {
    if (w === 4) { const x = dv.getUint32(i * 4, true); return x & 0x80000000 ? -(x & 0x7fffffff) : x; }
    const x = dv.getUint16(i * 2, true); return x & 0x8000 ? -(x & 0x7fff) : x;
  };
  let m = 0;
  for (let i = 0; i < n; i++) m = Math.max(m, Math.abs(ord(da, i) - ord(db, i)));
  return m;
}

export function hasIndex(dir: string): boolean {
  return existsSync(join(dir, "model.safetensors.index.json"));
}
