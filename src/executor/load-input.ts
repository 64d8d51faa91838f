import { DTYPES } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import type { F32Buf, Kernels } from "../kernels/kernels.ts";
import type { ModelTensor } from "../io/model-files.ts";
import { READ_ALIGN, READ_ROOM, alignUp, placeRead } from "./read-placement.ts";

/**
 * Reads one input tensor into wasm memory and converts it to a float32 working buffer rounded
 * to the working dtype; when `shape` is smaller (embedding rectification) the top-left block is kept.
 */
export async function loadInput(k: Kernels, t: ModelTensor, working: DType, shape: readonly number[], isEmbed: boolean): Promise<{ buf: F32Buf; shape: readonly number[] }> {
  const stored = t.dtype as DType;
  const n = t.byteLength / DTYPES[stored].bytes;
  const mark = k.mark();
  const raw = k.alloc(t.byteLength + READ_ALIGN + READ_ROOM);
  // placed as the source wants (read-placement.ts): the bytes at r.ptr
  const r = placeRead(alignUp(raw, READ_ALIGN), t.offset, t.byteLength, t.source);
  await t.source.readInto(r.offset, k.bytes(r.at, r.length));
  // The decoded copy goes after the raw bytes; the raw bytes are released right after.
  const buf = k.allocF32(n);
  k.call("decode", buf.ptr, r.ptr, DTYPES[stored].code, n);
  if (stored !== working) k.call("round_to", buf.ptr, buf.ptr, DTYPES[working].code, n);
  let out: F32Buf = buf;
  let outShape: readonly number[] = t.shape;
  if (isEmbed && t.shape.length === 2 && shape.length === 2 && (t.shape[0]! > shape[0]! || t.shape[1]! > shape[1]!) && t.shape[0]! >= shape[0]! && t.shape[1]! >= shape[1]!) {
    const [rows, cols] = shape as [number, number];
    const srcCols = t.shape[1]!;
    const view = new Float32Array(k.memory.buffer);
    const base = buf.ptr >> 2;
    for (let r = 0; r < rows; r++) view.copyWithin(base + r * cols, base + r * srcCols, base + r * srcCols + cols);
    out = { ptr: buf.ptr, length: rows * cols };
    outShape = shape;
  }
  // Move the working buffer down over the raw bytes so the raw bytes do not stay allocated.
  new Uint8Array(k.memory.buffer).copyWithin(raw, out.ptr, out.ptr + out.length * 4);
  k.release(mark);
  const moved = k.allocF32(out.length);
  return { buf: moved, shape: outShape };
}
