// A magnitude selection over bfloat16 task vectors from a sample and a band, instead of a full
// histogram (src/methods/gta/stream.ts, for tensors whose task vectors stay in memory):
//   sample  the 32768-bin key histogram of a fixed pseudo-random 1/2^SAMPLE_SHIFT of the elements
//           (tv_bf16), which places each boundary rank within a few keys;
//   band    over every element (rank_band_bf16): the count of keys above a band [a, a + w) that
//           holds the estimated boundaries with a wide margin, and the exact count of each key in it;
//   exact   a histogram equal to the full one wherever a boundary can fall: the band's bins as
//           counted, everything above it in bin a + w and everything below it in bin a - 1.
// The selection from that histogram is exact when every boundary lies inside the band, which is
// checked; when one does not (a sample far from the data), the driver counts the full histogram.
// The sample only decides how much work the exact answer takes, never the answer.
//
// When a tensor of the same name in an earlier layer had its boundaries at some keys, a band
// around them is predicted and counted in the sample pass already (the task vectors are in cache
// there); the band pass then runs only for a task vector whose boundary fell outside it.
import { AmalgamError } from "../../errors.ts";
import { RANK_HI_BINS } from "../../kernels/abi-gta.ts";
import type { StageOne } from "./rank-select.ts";
import { bounds, findBin, stageOne } from "./rank-select.ts";
import type { RankRange } from "./sparsify.ts";

/** One vector of 8 elements in 2^SAMPLE_SHIFT is sampled. */
export const SAMPLE_SHIFT = 4;

/**
 * Whether element `index` of a tensor is in tv_bf16's sample: its 8-element vector v = index / 8
 * is when the top `shift` bits of v * 0x9e3779b1 (mod 2^32) are zero (shift 0: every element).
 */
export function inSample(index: number, shift: number): boolean {
  if (shift === 0) return true;
  return (Math.imul(Math.floor(index / 8), 0x9e3779b1) >>> 0) >>> (32 - shift) === 0;
}

/**
 * u32 of one band's counts (per tile or thread, per task vector): a band of up to BAND_BINS - 1
 * keys and rank_band_bf16's spill bin.
 */
export const BAND_BINS = 2048;

/**
 * Keys of margin on each side of the boundaries a band is predicted from: twice the largest move
 * of a boundary between the last two tensors of the kind plus PREDICTED_SLACK, within
 * [PREDICTED_SLACK, PREDICTED_MAX]; PREDICTED_FIRST after the first tensor. A narrower band means
 * fewer elements counted one by one; a miss costs the band pass.
 */
const PREDICTED_FIRST = 24;
const PREDICTED_SLACK = 4;
const PREDICTED_MAX = 64;

/** Sample positions of margin beyond the estimate: this many standard deviations, plus a floor. */
const SIGMAS = 8;
const MARGIN_FLOOR = 64;

export interface Band {
  /** First key of the band. */
  readonly a: number;
  /** Keys in the band: [a, a + w). */
  readonly w: number;
  /** The band's most frequent key in the sample (counted without a memory update per element). */
  readonly hot: number;
}

/**
 * The band for the boundaries of `r` over `n` elements, from the sample histogram; undefined when
 * the sample is empty or the band would not leave BAND_BINS its spill bin.
 */
export function bandOf(r: RankRange, n: number, sample: Uint32Array): Band | undefined {
  let ns = 0;
  for (let b = 0; b < sample.length; b++) ns += sample[b]!;
  if (ns === 0) return undefined;
  const { lo, hi } = bounds(r, n);
  const ranks = [...(lo > 0 ? [lo] : []), ...(hi < n ? [hi] : [])];
  if (ranks.length === 0) return undefined;
  let a = RANK_HI_BINS;
  let b = -1;
  for (const p of ranks) {
    // the sample's count below the boundary is binomial(ns, p / n): a margin of SIGMAS deviations
    const f = p / n;
    const margin = SIGMAS * Math.sqrt(ns * f * (1 - f)) + MARGIN_FLOOR;
    const at = (p / n) * ns;
    const from = Math.floor(at - margin);
    const to = Math.ceil(at + margin);
    // past either end of the sample: its extreme key (keys beyond it are counted as above or below)
    a = Math.min(a, findBin(sample, Math.max(0, from)).bin);
    b = Math.max(b, findBin(sample, Math.min(ns - 1, to)).bin);
  }
  const w = b - a + 1;
  if (w >= BAND_BINS) return undefined;
  let hot = a;
  for (let key = a; key <= b; key++) if (sample[key]! > sample[hot]!) hot = key;
  return { a, w, hot };
}

/**
 * Stage 1 of the selection from the band's counts: `above` keys beyond the band and `counts[j]`
 * equal to key a + j, of n in all; undefined when a boundary falls outside the band (the
 * lumped bins are not exact there). The histogram goes with it for the selection words.
 */
export function bandStage(r: RankRange, n: number, band: Band, above: number, counts: Uint32Array): { stage: StageOne; hist: Uint32Array } | undefined {
  const hist = new Uint32Array(RANK_HI_BINS);
  hist.set(counts, band.a);
  let inBand = 0;
  for (let j = 0; j < band.w; j++) inBand += counts[j]!;
  const below = n - above - inBand;
  if (below < 0 || (band.a === 0 && below !== 0) || (band.a + band.w === RANK_HI_BINS && above !== 0)) {
    throw new AmalgamError("E_KERNEL", `band counts do not add up: ${above} above and ${inBand} in [${band.a}, ${band.a + band.w}) of ${n}`);
  }
  if (band.a > 0) hist[band.a - 1] = below;
  if (band.a + band.w < RANK_HI_BINS) hist[band.a + band.w] = above;
  const stage = stageOne(r, n, hist);
  const inside = (bin: number | undefined) => bin === undefined || (bin >= band.a && bin < band.a + band.w);
  return inside(stage.lo?.bin) && inside(stage.hi?.bin) ? { stage, hist } : undefined;
}

/** Where a tensor's boundaries fell (keys), and the margin a band predicted from them gets. */
export interface BandHint {
  readonly keys: readonly number[];
  readonly margin: number;
}

/** The hint a tensor leaves, from its boundary keys and the hint it was given (if any). */
export function nextHint(keys: readonly number[], prev: BandHint | undefined): BandHint {
  if (!prev || prev.keys.length !== keys.length) return { keys, margin: PREDICTED_FIRST };
  const moved = Math.max(...keys.map((k, i) => Math.abs(k - prev.keys[i]!)));
  return { keys, margin: Math.min(PREDICTED_MAX, 2 * moved + PREDICTED_SLACK) };
}

/**
 * A band predicted from where the boundaries of a similar tensor fell (the first key hot): the
 * same tensor of the previous layer usually has its boundary within a few keys.
 */
export function predictedBand(h: BandHint): Band | undefined {
  if (h.keys.length === 0) return undefined;
  const a = Math.max(0, Math.min(...h.keys) - h.margin);
  const b = Math.min(RANK_HI_BINS - 1, Math.max(...h.keys) + h.margin);
  const w = b - a + 1;
  return w < BAND_BINS ? { a, w, hot: h.keys[0]! } : undefined;
}
