// Writes small safetensors files for tests, laid out as the safetensors library does.
import { writeFileSync } from "node:fs";
import type { DType } from "../../../src/dtype.ts";
import { layoutFile } from "../../../src/io/safetensors-writer.ts";

export interface RawTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly raw: Uint8Array;
}

export function writeSafetensors(path: string, tensors: readonly RawTensor[]): void {
  const layout = layoutFile(tensors);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const out = new Uint8Array(layout.totalBytes);
  out.set(layout.header, 0);
  let at = layout.header.length;
  for (const s of layout.order) {
    const t = byName.get(s.name)!;
    out.set(t.raw, at);
    at += t.raw.length;
  }
  writeFileSync(path, out);
}

/** float32 values as raw little-endian bytes. */
export function f32Raw(values: readonly number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}
