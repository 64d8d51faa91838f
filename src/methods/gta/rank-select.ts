// Turning the histograms of a streamed magnitude selection into rank_mask's selection words
// (assembly/select-rank-stream.ts): the same ranks as mask_rank_range over the whole tensor.
//
// Stage 1 (the 32768-bin histogram of key >> 16) finds the bin of each boundary rank; when keys
// in that bin may differ in their low 16 bits (float16/float32 values) stage 2 needs the 65536-bin
// histogram of the bin's low bits. Among the E elements equal to a boundary key, t lie below the
// boundary rank; which of them are kept depends on the tie order:
//   TIE_INDEX_ASC  (lower index ranks lower):  lo keeps ordinals [t, E), hi keeps [0, t)
//   TIE_INDEX_DESC (lower index ranks higher): lo keeps ordinals [0, E - t), hi keeps [E - t, E)
// where an element's ordinal is the number of equal elements before it in index order.
import { SEL_HI, SEL_LO, SEL_NONE, TIE_INDEX_ASC } from "../../kernels/abi-gta.ts";
import type { RankRange } from "./sparsify.ts";

const UNBOUNDED = 0xffffffff;

/** A boundary rank located in its high bin. */
export interface Boundary {
  readonly bin: number;
  /** Position of the boundary rank among the elements of its bin. */
  readonly q: number;
}

/** A selection after stage 1: trivial, or its boundaries' bins. */
export interface StageOne {
  readonly trivial: "all" | "none" | undefined;
  readonly lo: Boundary | undefined;
  readonly hi: Boundary | undefined;
}

/** The bin holding ascending position p, and the count of elements in lower bins. */
export function findBin(hist: Uint32Array, p: number): { bin: number; cum: number } {
  let cum = 0;
  for (let b = 0; b < hist.length; b++) {
    const c = hist[b]!;
    if (p < cum + c) return { bin: b, cum };
    cum += c;
  }
  return { bin: hist.length - 1, cum };
}

/** Normalized range: [lo, min(hi, n)). */
export function bounds(r: RankRange, n: number): { lo: number; hi: number } {
  return { lo: r.lo, hi: Math.min(r.hi, n) };
}

/** Whether the range keeps everything or nothing whatever the values (mask_rank_range's shortcut). */
export function trivialRange(r: RankRange, n: number): "all" | "none" | undefined {
  const { lo, hi } = bounds(r, n);
  if (lo >= hi) return "none";
  if (lo === 0 && hi === n) return "all";
  return undefined;
}

/** Stage 1 from the high histogram (all n keys) of the task vector. */
export function stageOne(r: RankRange, n: number, hist: Uint32Array): StageOne {
  const trivial = trivialRange(r, n);
  if (trivial) return { trivial, lo: undefined, hi: undefined };
  const { lo, hi } = bounds(r, n);
  const at = (p: number): Boundary => {
    const f = findBin(hist, p);
    return { bin: f.bin, q: p - f.cum };
  };
  return { trivial: undefined, lo: lo > 0 ? at(lo) : undefined, hi: hi < n ? at(hi) : undefined };
}

/** rank_mask's seven selection words, and whether marking needs each tile's preceding counts. */
export interface Selection {
  readonly words: readonly number[];
  readonly needsOrdinals: boolean;
}

/** The selection of a range that keeps everything or nothing. */
export function trivialSelection(t: "all" | "none"): Selection {
  return { words: [t === "none" ? SEL_NONE : 0, 0, 0, 0, 0, 0, 0], needsOrdinals: false };
}

/**
 * Stage 2: the exact boundary keys. `lows` gives the low-bit histogram of a boundary's bin, or
 * undefined when the bin holds one key (every key's low 16 bits are zero).
 */
export function selection(r: RankRange, s: StageOne, hist: Uint32Array, lows: { readonly lo?: Uint32Array; readonly hi?: Uint32Array }): Selection {
  if (s.trivial) return trivialSelection(s.trivial);
  const exact = (b: Boundary, low: Uint32Array | undefined): { key: number; t: number; e: number } => {
    if (!low) return { key: b.bin * 65536, t: b.q, e: hist[b.bin]! };
    const f = findBin(low, b.q);
    return { key: b.bin * 65536 + f.bin, t: b.q - f.cum, e: low[f.bin]! };
  };
  const asc = r.tie === TIE_INDEX_ASC;
  let flags = 0;
  const w = [0, 0, 0, 0, 0, 0, 0];
  let needsOrdinals = false;
  if (s.lo) {
    const { key, t, e } = exact(s.lo, lows.lo);
    flags |= SEL_LO;
    w[1] = key;
    [w[3], w[4]] = asc ? [t, UNBOUNDED] : [0, e - t];
    if (t > 0) needsOrdinals = true;
  }
  if (s.hi) {
    const { key, t, e } = exact(s.hi, lows.hi);
    flags |= SEL_HI;
    w[2] = key;
    [w[5], w[6]] = asc ? [0, t] : [e - t, UNBOUNDED];
    if (t > 0) needsOrdinals = true;
  }
  w[0] = flags;
  return { words: w, needsOrdinals };
}
