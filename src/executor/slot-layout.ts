// The executor's fixed regions below the heap (merge.ts mergePlanned), in one place so that the
// memory estimate (src/inspect/merge-estimate.ts) and the streamed timing (src/inspect/
// time-streamed.ts) lay them out as the executor does: every slot's input buffers first (one
// region: a kept tensor's inputs may be read ahead into it, read-ahead.ts), then the slots' output
// buffers; each thread's scratch region comes after (scratchRegionBytes).
import type { Region } from "./prefetch.ts";
import { READ_ALIGN, READ_ROOM, alignUp } from "./read-placement.ts";
import type { StreamSlot } from "./streamed.ts";
import { CHUNK_ELEMENTS } from "./tile-job.ts";

export interface SlotLayout {
  readonly slots: readonly StreamSlot[];
  /** The slots' input buffers, one after another. */
  readonly inputRegion: Region;
  /** The first byte after the output buffers (a multiple of READ_ALIGN). */
  readonly end: number;
}

/**
 * `slotCount` slots of `maxK` input buffers and an output buffer, each float32-sized for `tile`
 * elements, from `start`: input buffers start on READ_ALIGN boundaries with room to widen a read
 * (read-placement.ts).
 */
export function layOutSlots(start: number, slotCount: number, maxK: number, tile: number): SlotLayout {
  const ioBytes = alignUp(tile * 4, 64);
  const inBytes = alignUp(ioBytes + READ_ROOM, READ_ALIGN);
  let at = alignUp(start, READ_ALIGN);
  const inputs = Array.from({ length: slotCount }, () => Array.from({ length: maxK }, () => { const p = at; at += inBytes; return p; }));
  const inputRegion = { start: inputs[0]?.[0] ?? at, bytes: slotCount * maxK * inBytes };
  const slots = inputs.map((ins) => {
    const out = at;
    at = alignUp(at + ioBytes, READ_ALIGN);
    return { inputs: ins, out };
  });
  return { slots, inputRegion, end: at };
}

/** Bytes of one thread's scratch region: tile jobs' chunk temporaries, and the streamed accumulator. */
export function scratchRegionBytes(maxK: number, tile: number, accBytes: number): number {
  return alignUp((maxK + 4) * Math.min(tile, CHUNK_ELEMENTS) * 4 + (maxK + 4) * 128 + 65536, 64) + accBytes;
}
