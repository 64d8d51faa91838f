// Where to put a read in wasm memory for a source with a read alignment (ByteSource.readAlignment:
// a Node file read with direct I/O): the read is widened to whole aligned blocks of the file and
// lands at an aligned address, the tile's bytes inside it. Buffers that take reads start on a
// READ_ALIGN boundary and are READ_ROOM bytes longer than their largest read.
import type { ByteSource } from "../io/storage.ts";

/** The largest read alignment honoured; buffers that take reads start on a multiple of it. */
export const READ_ALIGN = 4096;
/** Spare bytes a read buffer needs for the widening (a partial block at each end). */
export const READ_ROOM = 2 * READ_ALIGN;

/** A read as placed: `length` bytes at file `offset` into memory at `at`; the wanted bytes at `ptr`. */
export interface PlacedRead {
  readonly ptr: number;
  readonly at: number;
  readonly offset: number;
  readonly length: number;
}

export const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;

/** Places a read of `length` bytes at `offset` of `source` into the buffer at `base`. */
export function placeRead(base: number, offset: number, length: number, source: ByteSource): PlacedRead {
  const a = source.readAlignment;
  if (!a || READ_ALIGN % a !== 0 || base % a !== 0) return { ptr: base, at: base, offset, length };
  const pre = offset % a;
  const end = Math.min(source.size, alignUp(offset + length, a));
  return { ptr: base + pre, at: base, offset: offset - pre, length: end - offset + pre };
}
