// Tensors on the GPU, as chunks of at most `chunkElements` elements (each its own buffer, so no
// binding exceeds the portable 128 MiB), and the per-chunk conversions between stored bytes and
// float32 working values.
import type { DType } from "../dtype.ts";
import { DTYPES } from "../dtype.ts";
import type { GpuChunk, GpuKernels } from "./gpu-kernels.ts";

/** A tensor of `numel` elements in chunks; `elementBytes` is 4 for working tensors, 2 or 4 stored. */
export interface GpuTensor {
  readonly numel: number;
  readonly elementBytes: number;
  readonly chunks: readonly GpuChunk[];
}

/** Chunk extents of a tensor. */
export function chunkExtents(numel: number, chunkElements: number): { n: number; base: number }[] {
  const out: { n: number; base: number }[] = [];
  for (let base = 0; base < numel; base += chunkElements) out.push({ n: Math.min(chunkElements, numel - base), base });
  return out;
}

export function allocTensor(g: GpuKernels, numel: number, elementBytes = 4): GpuTensor {
  return {
    numel, elementBytes,
    chunks: chunkExtents(numel, g.chunkElements).map((c) => ({ ...c, buf: g.buffer(c.n * elementBytes) })),
  };
}

export function releaseTensor(g: GpuKernels, t: GpuTensor): void {
  g.release(...t.chunks.map((c) => c.buf));
}

/** Uploads a stored tensor's bytes (`dtype` as in the checkpoint). */
export function uploadStored(g: GpuKernels, bytes: Uint8Array, dtype: DType): GpuTensor {
  const eb = DTYPES[dtype].bytes;
  const t = allocTensor(g, bytes.length / eb, eb);
  for (const c of t.chunks) g.upload(c.buf, 0, bytes.subarray(c.base * eb, (c.base + c.n) * eb));
  return t;
}

/** Working float32 values of a stored tensor, rounded to `working` when stored in another dtype. */
export function decodeTensor(g: GpuKernels, stored: GpuTensor, dtype: DType, working: DType, into?: GpuTensor): GpuTensor {
  const out = into ?? allocTensor(g, stored.numel);
  stored.chunks.forEach((c, i) => {
    g.dispatch("decode", c, { mode: DTYPES[working].code, u: [DTYPES[dtype].code] }, [c.buf, out.chunks[i]!.buf]);
  });
  return out;
}

/** Stored bytes of `outDtype` from working values (rounded to nearest even). */
export function encodeTensor(g: GpuKernels, t: GpuTensor, outDtype: DType): GpuTensor {
  const eb = DTYPES[outDtype].bytes;
  const out = allocTensor(g, t.numel, eb);
  t.chunks.forEach((c, i) => {
    const words = Math.ceil((c.n * eb) / 4);
    g.dispatch("encode", c, { u: [DTYPES[outDtype].code, words] }, [c.buf, out.chunks[i]!.buf], false, words);
  });
  return out;
}

/** Reads a stored tensor back as one byte array, with the tensor's flags. */
export async function readStored(g: GpuKernels, t: GpuTensor): Promise<{ bytes: Uint8Array; flags: number }> {
  const { data, flags } = await g.read(t.chunks.map((c) => ({ buf: c.buf, bytes: c.n * t.elementBytes })));
  if (data.length === 1) return { bytes: data[0]!, flags };
  const bytes = new Uint8Array(t.numel * t.elementBytes);
  let at = 0;
  for (const d of data) { bytes.set(d, at); at += d.length; }
  return { bytes, flags };
}
