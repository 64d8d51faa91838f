// Reading a streamed tensor's kept inputs ahead of its first pass, into one span of memory in the
// layout its passes use (keptLayout), a few reads at a time and tile by tile: its first pass waits
// for each tile's reads instead of issuing them. read-ahead.ts says which tensors and where.
import { DTYPES } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import type { Kernels } from "../kernels/kernels.ts";
import type { PlannedTensor } from "../plan/types.ts";
import { READ_ALIGN, alignUp, placeRead } from "./read-placement.ts";
import type { PlacedRead } from "./read-placement.ts";

/** A span of wasm memory that can hold a tensor's kept inputs. */
export interface Region {
  readonly start: number;
  readonly bytes: number;
}

/** Where each kept input's tiles are: from `at`, every `stride` bytes (0: contiguous, tile after tile). */
export interface KeptInput {
  readonly at: number;
  readonly stride: number;
}

export interface KeptLayout {
  readonly inputs: ReadonlyMap<number, KeptInput>;
  /** Bytes from the region's start to the end of the last input. */
  readonly bytes: number;
}

/**
 * The layout of tensor `t`'s kept inputs `inputs` in a region starting at `start` (a multiple of
 * READ_ALIGN): contiguous and 64-byte aligned tiles for sources that read anywhere; one
 * READ_ALIGN-aligned block per tile, with room for the widened read, for sources that place their
 * reads (read-placement.ts), so that one tile's read never touches another tile's bytes.
 */
export function keptLayout(t: PlannedTensor, tile: number, tiles: number, inputs: readonly number[], start: number): KeptLayout {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const map = new Map<number, KeptInput>();
  let at = start;
  for (const j of inputs) {
    const s = t.sources[j]!.tensor;
    const b = DTYPES[s.dtype as DType].bytes;
    const stride = s.source.readAlignment ? alignUp(tile * b, READ_ALIGN) + READ_ALIGN : 0;
    map.set(j, { at, stride });
    // the last tile takes only its own length (a tensor of 9.01 tiles must not cost 10)
    const last = numel - (tiles - 1) * tile;
    at += stride ? (tiles - 1) * stride + alignUp(last * b, READ_ALIGN) + READ_ALIGN : alignUp(numel * b, 64);
    at = alignUp(at, READ_ALIGN);
  }
  return { inputs: map, bytes: at - start };
}

/** Where tile `i` (elements [off, off + n)) of kept input `j` is read to. */
export function keptRead(t: PlannedTensor, j: number, c: KeptInput, i: number, off: number, n: number): PlacedRead {
  const s = t.sources[j]!.tensor;
  const b = DTYPES[s.dtype as DType].bytes;
  if (!c.stride) return { ptr: c.at + off * b, at: c.at + off * b, offset: s.offset + off * b, length: n * b };
  return placeRead(c.at + i * c.stride, s.offset + off * b, n * b, s.source);
}

/** A tensor's kept inputs being read ahead into a region. */
export interface Prefetch {
  readonly tensor: PlannedTensor;
  readonly region: Region;
  readonly tile: number;
  readonly inputs: readonly number[];
  readonly layout: KeptLayout;
  /** Settles when tile i's reads are done (or one failed). */
  readonly tiles: readonly Promise<void>[];
  /** Settles when every read has settled; never rejects. */
  readonly done: Promise<void>;
}

/**
 * Starts reading all of `inputs` of tensor `t` (tiles of `tile` elements) into `region` with the
 * layout keptLayout gives, tile by tile, at most `inFlight` reads at a time. Undefined when they
 * do not fit.
 */
export function startPrefetch(k: Kernels, t: PlannedTensor, tile: number, inputs: readonly number[], region: Region, inFlight: number): Prefetch | undefined {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const tiles = Math.ceil(numel / tile);
  const layout = keptLayout(t, tile, tiles, inputs, region.start);
  if (layout.bytes > region.bytes || tiles === 0) return undefined;
  const settle: { resolve: () => void; reject: (e: unknown) => void; left: number }[] = [];
  const tilePromises = Array.from({ length: tiles }, () => new Promise<void>((resolve, reject) => { settle.push({ resolve, reject, left: inputs.length }); }));
  for (const p of tilePromises) p.catch(() => {}); // observed by the first pass that waits on it
  let next = 0;
  const total = tiles * inputs.length;
  const lane = async (): Promise<void> => {
    while (next < total) {
      const q = next++;
      const i = Math.floor(q / inputs.length);
      const j = inputs[q % inputs.length]!;
      const off = i * tile;
      const r = keptRead(t, j, layout.inputs.get(j)!, i, off, Math.min(tile, numel - off));
      const s = settle[i]!;
      try {
        await t.sources[j]!.tensor.source.readInto(r.offset, k.bytes(r.at, r.length));
        if (--s.left === 0) s.resolve();
      } catch (e) {
        s.reject(e);
      }
    }
  };
  const lanes = Array.from({ length: Math.max(1, inFlight) }, () => lane());
  return { tensor: t, region, tile, inputs, layout, tiles: tilePromises, done: Promise.all(lanes).then(() => undefined) };
}
