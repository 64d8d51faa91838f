// The task-arithmetic family streamed: a tensor merged in passes over tiles read by byte range
// (src/executor/streamed.ts), never held whole. Same bytes as mergeGta for every tile size and
// thread count:
//   sample (rank sparsifiers over bfloat16 task vectors kept in memory between passes) each
//          model's bytes become its task vector; the keys of a fixed 1/16 sample are counted;
//   band   (after sample) exact counts in a narrow band of keys around the sampled boundaries
//          and of the keys above it (rank-band.ts); when a boundary is outside the band, hist;
//   hist   (rank sparsifiers: ties, breadcrumbs) per-model histograms of the |delta| bits >> 16;
//   lo     (only when some key has low bits, i.e. float16/float32) the low bits of the boundary bins;
//   l1     (rescale) the exact L1 norms before and after masking (l1-sum.ts);
//          DELLA ranks within rows, so its tiles and chunks hold whole rows and need nothing else;
//   final  each output tile from its inputs and the statistics.
// Equal |delta| at a boundary are kept by flat index, so marking a tile needs the number of
// boundary-equal elements before it. For bfloat16 tensors of few enough tiles the hist and band
// passes keep their counts per tile, which hold those counts; otherwise the first pass that
// marks has a `pre` step counting them per tile. The driver adds the counts up in tile order (tileData).
// Every float crossing to the tile jobs travels as its float32 bits (JSON has no -0, NaN or inf).
import { AmalgamError } from "../../errors.ts";
import type { DType } from "../../dtype.ts";
import { DTYPES } from "../../dtype.ts";
import { dellaScratchBytes, L1_ACC_BYTES, RANK_HI_BINS, RANK_LO_BINS, SEL_HI, SEL_LO, SEL_WORDS } from "../../kernels/abi-gta.ts";
import type { F32Buf, Kernels } from "../../kernels/kernels.ts";
import { f32Bits as bitsOf, f32FromBits as fromBits, toDType } from "../../kernels/scalar.ts";
import { streamKey } from "../../random/stream-key.ts";
import type { JsonValue, StreamBeginContext, StreamDriver, StreamedMethod, StreamPass, StreamTileContext, StoredInput } from "../types.ts";
import type { GtaVariant } from "./combine-params.ts";
import { combineParams, sparsifyParams } from "./combine-params.ts";
import { l1Value } from "./l1-sum.ts";
import { allBf16, finalBf16 } from "./final-bf16.ts";
import { finishMasked, rescaleFactor } from "./rescale.ts";
import type { Band, BandHint } from "./rank-band.ts";
import { BAND_BINS, bandOf, bandStage, nextHint, predictedBand, SAMPLE_SHIFT } from "./rank-band.ts";
import type { Selection, StageOne } from "./rank-select.ts";
import { selection, stageOne, trivialRange, trivialSelection } from "./rank-select.ts";
import { randomWorkDtype, rankRange } from "./sparsify.ts";
import type { RankRange } from "./sparsify.ts";

/** Elements per kernel call inside a tile: a chunk's buffers stay in L2. */
const CHUNK = 16384;

/**
 * How a task vector is sparsified: not at all, dropped, by magnitude rank, by a random mask, by a
 * random mask with per-row rank probabilities (DELLA).
 */
type Kind = "none" | "drop" | "rank" | "random" | "della";

type Step = "sample" | "band" | "hist" | "lo" | "l1" | "final";

/** The data of every tile job of a pass (plain JSON). */
type PassData = {
  readonly step: Step;
  /** Input index of each task vector. */
  readonly tvs: readonly number[];
  readonly kinds: readonly Kind[];
  /** rank: the selection words of rank_mask_apply (l1, final). */
  readonly sel: readonly (readonly number[])[];
  /** lo: the high bins whose low bits to count, per task vector [lo, hi] (-1: none). */
  readonly bins: readonly (readonly number[])[];
  /** random: the keep probability's bits; random, della: the stream key [lo, hi]. */
  readonly p: readonly number[];
  readonly keys: readonly (readonly number[])[];
  /** della: [bits of density - epsilon, bits of epsilon] in the work dtype. */
  readonly della: readonly (readonly number[])[];
  /** Elements of one row block ([rowLen, inner] of della_probs; 0: no rows); chunks hold whole blocks. */
  readonly rowBlock: number;
  readonly rowLen: number;
  /** final: rescale factor bits (null: none); combine's weights, divisor, lambda bits and flags. */
  readonly factors: readonly (number | null)[];
  readonly ws: readonly number[];
  readonly div: number;
  readonly lambda: number;
  readonly flags: number;
  /** l1: whether each task vector's norms are wanted. */
  readonly l1: readonly boolean[];
  /**
   * hist, band: per-tile counts (tiles x task vectors x 32768 or BAND_BINS u32) instead of the
   * thread accumulator; 0: none.
   */
  readonly perTile: number;
  /** band: [first key, keys, hot key] of each ranked task vector's band ([]: none). */
  readonly band: readonly (readonly number[])[];
  /** sample: one 8-element vector in 2^shift is counted. */
  readonly shift: number;
};

/** The count step before marking: per-tile counts of each task vector's boundary keys go to `counts`. */
type PreData = {
  readonly counts: number;
  readonly tvs: readonly number[];
  readonly keys: readonly (readonly number[])[];
};


/** Whether a kind applies a keep mask (and so may be rescaled). */
function masked(kind: Kind): boolean {
  return kind === "rank" || kind === "random" || kind === "della";
}

/** Elements of one block of whole DELLA rows: [rowLen, inner] (MergeKit ranks along dim 1); a 1-D tensor is one row. */
function rowBlockOf(shape: readonly number[]): number {
  return (shape.length < 2 ? shape : shape.slice(1)).reduce((a, b) => a * b, 1);
}

/** Tiles of whole row blocks that fit a chunk, for DELLA; 0 declines. */
function alignDellaTile(shape: readonly number[], tile: number): number {
  const block = rowBlockOf(shape);
  if (block === 0) return tile;
  if (block > CHUNK) return 0;
  return Math.floor(tile / block) * block;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Per-thread accumulator words of each step for `t` task vectors. */
function hist32(t: number, perTile: boolean): number {
  return perTile ? t : t * (RANK_HI_BINS + 1);
}
function lo32(t: number): number {
  return t * 2 * RANK_LO_BINS;
}
function l164(t: number): number {
  return t * 2 * (L1_ACC_BYTES / 8);
}

interface TaskVectorPlan {
  readonly input: number;
  readonly kind: Kind;
  readonly range?: RankRange;
  readonly work: DType;
  /** della: density - epsilon and epsilon in the work dtype. */
  readonly della?: readonly [number, number];
  stage?: StageOne;
  sel?: Selection;
  lowOr?: number;
  hist?: Uint32Array;
  /** The band the task vector's keys are (to be) counted in. */
  band?: Band;
  factor?: number;
}

/** Per-tile key counts of each task vector (tiles x task vectors x bins u32) and the key of bin 0. */
interface TileCounts {
  readonly ptr: number;
  readonly bins: number;
  readonly first: readonly number[];
}

/** The main-thread side of one streamed tensor. */
class GtaDriver implements StreamDriver {
  private stage: "start" | Step = "start";
  private counts = 0;
  private counted = false;
  private prefix: number[];
  /** Per-tile histograms of the hist pass (main-thread memory, 0: none). */
  private perTile = 0;
  /** Per-tile counts that give each tile's boundary ordinals (no pre step needed). */
  private tileCounts: TileCounts | undefined;
  /** Whether ranked task vectors take the sample-and-band route (bfloat16 task vectors kept in memory). */
  private readonly banded: boolean;

  constructor(
    readonly inputs: readonly number[],
    private readonly v: GtaVariant,
    private readonly ctx: StreamBeginContext,
    private readonly tvs: TaskVectorPlan[],
    private readonly combine: { ws: number[]; div: number; lambda: number; flags: number },
    private readonly rescale: boolean,
  ) {
    this.prefix = new Array<number>(tvs.length * 2).fill(0);
    this.banded = ctx.dtype === "BF16" && inputs.every((j) => ctx.inputs[j]!.dtype === "BF16") && ctx.keeps(inputs);
  }

  private ranked(): TaskVectorPlan[] {
    return this.tvs.filter((t) => t.kind === "rank" && !t.sel);
  }

  private data(step: Step, extra: Partial<PassData> = {}): PassData {
    return {
      step,
      tvs: this.tvs.map((t) => t.input),
      kinds: this.tvs.map((t) => t.kind),
      sel: this.tvs.map((t) => t.sel?.words ?? []),
      bins: [],
      p: this.tvs.map((t) => (t.kind === "random" ? bitsOf(toDType(sparsifyParams(this.v, this.ctx.inputs[t.input]!.params, this.ctx.global).density, t.work)) : 0)),
      keys: this.tvs.map((t) => {
        if (t.kind !== "random" && t.kind !== "della") return [];
        const key = streamKey(this.ctx.seed, this.ctx.modelIndices[t.input]!, this.ctx.tensor, t.kind === "random" ? "dare-mask" : "della-mask");
        return [key.lo, key.hi];
      }),
      della: this.tvs.map((t) => (t.della ? t.della.map(bitsOf) : [])),
      rowBlock: this.tvs.some((t) => t.kind === "della") ? rowBlockOf(this.ctx.shape) : 0,
      rowLen: this.ctx.shape.length < 2 ? this.ctx.numel : this.ctx.shape[1]!,
      factors: this.tvs.map((t) => (t.factor === undefined ? null : bitsOf(t.factor))),
      ws: this.combine.ws.map(bitsOf),
      div: bitsOf(this.combine.div),
      lambda: bitsOf(this.combine.lambda),
      flags: this.combine.flags,
      l1: this.tvs.map((t) => this.rescale && masked(t.kind)),
      perTile: 0,
      band: [],
      shift: 0,
      ...extra,
    };
  }

  /** Pre step counting boundary keys, when some selection needs ordinals and none were counted. */
  private pre(): PreData | undefined {
    if (this.counted || this.tileCounts || !this.tvs.some((t) => t.sel?.needsOrdinals)) return undefined;
    this.counted = true;
    const k = this.ctx.kernels;
    const bytes = this.ctx.tiles * this.tvs.length * 8;
    this.counts = k.alloc(Math.max(bytes, 8));
    k.bytes(this.counts, bytes).fill(0);
    return {
      counts: this.counts,
      tvs: this.tvs.map((t) => t.input),
      keys: this.tvs.map((t) => (t.sel?.needsOrdinals ? [t.sel.words[1]!, t.sel.words[2]!] : [])),
    };
  }

  private pass(data: PassData, acc32: number, acc64: number, final: boolean, pre?: PreData): StreamPass {
    this.prefix.fill(0);
    return pre ? { data, pre, acc32, acc64, final, name: data.step } : { data, acc32, acc64, final, name: data.step };
  }

  /** Zeroed main-thread memory for per-tile counts of `bins` u32 per task vector, or 0 past the statistics budget. */
  private tileMemory(bins: number): number {
    const bytes = this.ctx.tiles * this.tvs.length * bins * 4;
    if (bytes > this.ctx.statsBytes) return 0;
    const k = this.ctx.kernels;
    const ptr = k.alloc(bytes);
    k.bytes(ptr, bytes).fill(0);
    return ptr;
  }

  next(acc: number | undefined): StreamPass {
    if (acc !== undefined) this.absorb(acc);
    return this.plan();
  }

  /** Takes in what the pass just run found (its accumulator summed over threads). */
  private absorb(acc: number): void {
    const k = this.ctx.kernels;
    const n = this.ctx.numel;
    const T = this.tvs.length;
    const words = (at: number, len: number) => new Uint32Array(k.memory.buffer, acc + at * 4, len).slice();
    if (this.stage === "hist") {
      const lowOr = words(0, T);
      this.tvs.forEach((t, m) => {
        if (t.kind !== "rank" || t.sel) return;
        t.hist = this.perTile ? this.sumTiles(this.perTile, RANK_HI_BINS, m) : words(T + m * RANK_HI_BINS, RANK_HI_BINS);
        t.stage = stageOne(t.range!, n, t.hist);
        t.lowOr = lowOr[m]!;
        if (t.lowOr === 0) t.sel = selection(t.range!, t.stage, t.hist, {});
      });
      // every bin one key: the per-tile histograms count the boundary keys of each tile
      if (this.perTile !== 0 && this.ranked().length === 0) this.tileCounts = { ptr: this.perTile, bins: RANK_HI_BINS, first: this.tvs.map(() => 0) };
    } else if (this.stage === "lo") {
      this.tvs.forEach((t, m) => {
        if (t.kind !== "rank" || t.sel) return;
        const at = (j: number) => words((m * 2 + j) * RANK_LO_BINS, RANK_LO_BINS);
        t.sel = selection(t.range!, t.stage!, t.hist!, { lo: t.stage!.lo ? at(0) : undefined, hi: t.stage!.hi ? at(1) : undefined });
      });
    } else if (this.stage === "l1") {
      this.tvs.forEach((t, m) => {
        if (!masked(t.kind)) return;
        const before = acc + m * 2 * L1_ACC_BYTES;
        t.factor = rescaleFactor(l1Value(k, before), l1Value(k, before + L1_ACC_BYTES), t.work);
      });
    } else if (this.stage === "sample") {
      for (const [m, t] of this.tvs.entries()) {
        if (t.kind !== "rank" || t.sel) continue;
        const p = this.predicted[m];
        if (p && this.resolve(t, p, words(m, 1)[0]!, this.sumTiles(this.bandTiles, BAND_BINS, m).subarray(0, p.w))) continue;
        t.band = bandOf(t.range!, n, words(T + m * RANK_HI_BINS, RANK_HI_BINS));
      }
    } else if (this.stage === "band") {
      const perTile = this.bandTiles;
      this.tvs.forEach((t, m) => {
        if (t.kind !== "rank" || t.sel || !t.band) return;
        const counts = perTile ? this.sumTiles(perTile, BAND_BINS, m).subarray(0, t.band.w) : words(T + m * BAND_BINS, t.band.w);
        this.resolve(t, t.band, words(m, 1)[0]!, counts); // if not, the full histogram decides
      });
      if (this.ranked().length === 0) this.countsFromBands();
    }
  }

  /** The selection of t from its counts in band b, when its boundaries are inside it. */
  private resolve(t: TaskVectorPlan, b: Band, above: number, counts: Uint32Array): boolean {
    const found = bandStage(t.range!, this.ctx.numel, b, above, counts);
    if (!found) return false;
    t.band = b;
    t.stage = found.stage;
    t.hist = found.hist;
    t.sel = selection(t.range!, found.stage, found.hist, {});
    return true;
  }

  /** Every ranked task vector selected from band counts kept per tile: they give the boundary ordinals. */
  private countsFromBands(): void {
    if (this.bandTiles) this.tileCounts = { ptr: this.bandTiles, bins: BAND_BINS, first: this.tvs.map((t) => t.band?.a ?? 0) };
  }

  /** Zeroes the per-tile band counts of `tvs` before they are counted again in another band. */
  private clearBandTiles(tvs: readonly TaskVectorPlan[]): void {
    const k = this.ctx.kernels;
    for (const t of tvs) {
      const m = this.tvs.indexOf(t);
      for (let tile = 0; tile < this.ctx.tiles; tile++) k.bytes(this.bandTiles + (tile * this.tvs.length + m) * BAND_BINS * 4, BAND_BINS * 4).fill(0);
    }
  }

  /** Bands predicted for task vector m from the same tensor of earlier layers (same method, size, model slot). */
  private hintKey(m: number): string {
    return `gta-band|${this.v.name}|${this.ctx.tensor.replace(/\d+/g, "#")}|${this.ctx.numel}|${m}`;
  }

  private bandHint(m: number): BandHint | undefined {
    const h = this.ctx.hints.get(this.hintKey(m));
    if (!Array.isArray(h) || h.length < 2 || !h.every((x) => typeof x === "number")) return undefined;
    const [margin, ...keys] = h as number[];
    return { keys, margin: margin! };
  }

  private hint(m: number): Band | undefined {
    const h = this.bandHint(m);
    return h ? predictedBand(h) : undefined;
  }

  /** Leaves where each ranked task vector's boundaries fell, for the next tensor of the same name. */
  private remember(): void {
    if (!this.banded || this.remembered) return;
    this.remembered = true;
    this.tvs.forEach((t, m) => {
      const w = t.sel?.words;
      if (t.kind !== "rank" || !w || (w[0]! & (SEL_LO | SEL_HI)) === 0) return;
      const keys = [...(w[0]! & SEL_LO ? [w[1]! >>> 16] : []), ...(w[0]! & SEL_HI ? [w[2]! >>> 16] : [])];
      const h = nextHint(keys, this.bandHint(m));
      this.ctx.hints.set(this.hintKey(m), [h.margin, ...h.keys]);
    });
  }

  /** Per-tile band counts (main-thread memory, 0: none). */
  private bandTiles = 0;
  /** Bands predicted for the sample pass, by task vector. */
  private predicted: readonly (Band | undefined)[] = [];
  private remembered = false;

  /** The next pass, from the stage just finished. */
  private plan(): StreamPass {
    const T = this.tvs.length;
    const n = this.ctx.numel;
    if (this.stage === "start") {
      for (const t of this.tvs) {
        if (t.kind === "rank") {
          const trivial = trivialRange(t.range!, n);
          if (trivial) t.sel = trivialSelection(trivial);
        }
      }
      if (this.ranked().length > 0) {
        if (this.banded) {
          // bands predicted from earlier layers are counted in this pass already
          const predicted = this.tvs.map((t, m) => (t.kind === "rank" && !t.sel ? this.hint(m) : undefined));
          if (predicted.some((b) => b)) this.bandTiles = this.tileMemory(BAND_BINS);
          this.predicted = this.bandTiles ? predicted : [];
          const band = this.tvs.map((_, m) => {
            const b = this.predicted[m];
            return b ? [b.a, b.w, b.hot] : [];
          });
          this.stage = "sample";
          return this.pass(this.data("sample", { shift: SAMPLE_SHIFT, band, perTile: this.bandTiles }), hist32(T, false), 0, false);
        }
        return this.histPass(true);
      }
    } else if (this.stage === "sample") {
      if (this.ranked().length === 0) {
        this.countsFromBands();
      } else if (this.ranked().every((t) => t.band)) {
        this.stage = "band";
        if (this.bandTiles) this.clearBandTiles(this.ranked());
        else this.bandTiles = this.tileMemory(BAND_BINS);
        const band = this.tvs.map((t) => (t.kind === "rank" && !t.sel && t.band ? [t.band.a, t.band.w, t.band.hot] : []));
        return this.pass(this.data("band", { band, perTile: this.bandTiles }), T + T * BAND_BINS, 0, false);
      } else {
        return this.histPass(false);
      }
    } else if (this.stage === "band") {
      if (this.ranked().length > 0) return this.histPass(false);
    } else if (this.stage === "hist") {
      if (this.ranked().length > 0) {
        this.stage = "lo";
        const bins = this.tvs.map((t) => (t.kind === "rank" && !t.sel ? [t.stage!.lo?.bin ?? -1, t.stage!.hi?.bin ?? -1] : [-1, -1]));
        return this.pass(this.data("lo", { bins }), lo32(T), 0, false);
      }
    }
    this.remember();
    if (this.stage !== "l1" && this.rescale && this.tvs.some((t) => masked(t.kind))) {
      this.stage = "l1";
      return this.pass(this.data("l1"), 0, l164(T), false, this.pre());
    }
    this.stage = "final";
    return this.pass(this.data("final"), 0, 0, true, this.pre());
  }

  /**
   * The full histogram pass of the ranked task vectors. With one histogram per tile and model
   * (within the statistics budget), the count of a bfloat16 boundary key in each tile is known
   * after it: a bf16 key is its own bin. `first`: no pass has run (per-tile histograms allowed).
   */
  private histPass(first: boolean): StreamPass {
    const T = this.tvs.length;
    this.stage = "hist";
    if (first && this.ctx.dtype === "BF16") this.perTile = this.tileMemory(RANK_HI_BINS);
    return this.pass(this.data("hist", { perTile: this.perTile }), hist32(T, this.perTile !== 0), 0, false);
  }

  /** Task vector m's counts summed over the tiles (per-tile blocks of `bins` u32). */
  private sumTiles(ptr: number, bins: number, m: number): Uint32Array {
    const T = this.tvs.length;
    const sum = new Uint32Array(bins);
    for (let tile = 0; tile < this.ctx.tiles; tile++) {
      const h = new Uint32Array(this.ctx.kernels.memory.buffer, ptr + (tile * T + m) * bins * 4, bins);
      for (let b = 0; b < bins; b++) sum[b]! += h[b]!;
    }
    return sum;
  }

  tileData(tile: number): JsonValue {
    const T = this.tvs.length;
    const out = this.prefix.slice();
    const c = this.tileCounts;
    if (c) {
      const mem = this.ctx.kernels.memory.buffer;
      this.tvs.forEach((t, m) => {
        const w = t.sel?.words;
        if (!t.sel?.needsOrdinals || !w) return;
        const h = new Uint32Array(mem, c.ptr + (tile * T + m) * c.bins * 4, c.bins);
        if (w[0]! & SEL_LO) this.prefix[m * 2]! += h[(w[1]! >>> 16) - c.first[m]!]!;
        if (w[0]! & SEL_HI) this.prefix[m * 2 + 1]! += h[(w[2]! >>> 16) - c.first[m]!]!;
      });
    } else if (this.counts) {
      const cs = new Uint32Array(this.ctx.kernels.memory.buffer, this.counts + tile * T * 8, T * 2);
      for (let i = 0; i < T * 2; i++) this.prefix[i]! += cs[i]!;
    }
    return out;
  }
}

/** Starts one streamed tensor, or declines (undefined) when an input needs a column cut. */
function begin(v: GtaVariant, ctx: StreamBeginContext): StreamDriver | undefined {
  if (ctx.baseIndex === undefined) {
    throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": merge_method "${v.name}" needs a base_model`);
  }
  const base = ctx.inputs[ctx.baseIndex]!;
  if (!sameShape(base.shape, ctx.shape)) return undefined;
  const used: number[] = [];
  for (let i = 0; i < ctx.inputs.length; i++) {
    if (i === ctx.baseIndex) continue;
    const s = ctx.inputs[i]!.shape;
    // The whole-tensor path cuts larger embeddings to the base's top-left block (load-input.ts):
    // with the same row length that block is a prefix of the flat data, read as is.
    const cut = ctx.isEmbed && s.length === 2 && ctx.shape.length === 2 && (s[0]! > ctx.shape[0]! || s[1]! > ctx.shape[1]!) && s[0]! >= ctx.shape[0]! && s[1]! >= ctx.shape[1]!;
    if (cut && s[1] !== ctx.shape[1]) return undefined;
    if (!cut && !sameShape(s, base.shape)) {
      ctx.warn(`${v.name}: skipping model ${ctx.inputs[i]!.model} for tensor "${ctx.tensor}": its shape ${JSON.stringify(s)} differs from the base model's ${JSON.stringify(base.shape)}`);
      continue;
    }
    used.push(i);
  }
  const combine = combineParams(v, ctx.tensor, used.map((i) => ctx.inputs[i]!), ctx.global, ctx.dtype);
  const rescale = Boolean(ctx.global["rescale"]);
  const tvs: TaskVectorPlan[] = used.map((input) => {
    const p = sparsifyParams(v, ctx.inputs[input]!.params, ctx.global);
    const how = v.sparsification;
    if (!how || p.density >= 1) return { input, kind: "none", work: ctx.dtype };
    if (how === "random") return { input, kind: "random", work: randomWorkDtype(ctx.dtype) };
    if (how === "della_magprune") {
      if (p.density <= 0) return { input, kind: "drop", work: ctx.dtype };
      if (p.density + p.epsilon >= 1 || p.density - p.epsilon <= 0) {
        throw new AmalgamError("E_CONFIG", `${p.method}: tensor "${ctx.tensor}", model ${ctx.inputs[input]!.model}: epsilon ${p.epsilon} with density ${p.density} puts density ± epsilon outside (0, 1)`);
      }
      const work = randomWorkDtype(ctx.dtype);
      return { input, kind: "della", work, della: [toDType(p.density - p.epsilon, work), toDType(p.epsilon, work)] };
    }
    const range = rankRange(ctx, how, ctx.inputs[input]!.model, p, ctx.numel);
    return range ? { input, kind: "rank", range, work: ctx.dtype } : { input, kind: "drop", work: ctx.dtype };
  });
  return new GtaDriver([ctx.baseIndex, ...used], v, ctx, tvs, { ...combine, ws: [...combine.ws] }, rescale);
}

/** Decodes `n` elements at chunk `c` of a stored tile into a fresh float32 buffer in the working dtype. */
function decodeChunk(k: Kernels, inp: StoredInput, c: number, n: number, dtype: DType): F32Buf {
  const buf = k.allocF32(n);
  k.call("decode", buf.ptr, inp.ptr + c * DTYPES[inp.dtype].bytes, DTYPES[inp.dtype].code, n);
  if (inp.dtype !== dtype) k.call("round_to", buf.ptr, buf.ptr, DTYPES[dtype].code, n);
  return buf;
}

/** The task vector of a stored input on a chunk: decode, round and subtract in one kernel. */
function taskVectorChunk(k: Kernels, inp: StoredInput, c: number, n: number, base: F32Buf, mode: number): F32Buf {
  const tv = k.allocF32(n);
  k.call("task_vector_stored", tv.ptr, inp.ptr + c * DTYPES[inp.dtype].bytes, DTYPES[inp.dtype].code, base.ptr, n, mode);
  return tv;
}

/**
 * Whether a kept input tile holds its task vector after the first pass: when it is stored in the
 * working dtype, the task vector (rounded to that dtype) fits its bytes exactly, and decoding it
 * gives the same bits (bf16 rounding and encoding both truncate to the high half, NaN included;
 * float32 is copied). float16 is left out: its NaN payloads would not survive the round trip.
 */
function holdsTaskVector(stored: DType, work: DType): boolean {
  return stored === work && (work === "BF16" || work === "F32");
}

/** The task vector of input `inp` on a chunk: decoded when the kept tile holds it, else computed. */
function taskVectorOf(k: Kernels, ctx: StreamTileContext, inp: StoredInput, c: number, n: number, base: F32Buf | undefined): F32Buf {
  if (ctx.kept === "read" && holdsTaskVector(inp.dtype, ctx.dtype)) return decodeChunk(k, inp, c, n, ctx.dtype);
  return taskVectorChunk(k, inp, c, n, base!, ctx.mode);
}

/** Masks task vector m in place on a chunk starting at tensor element `offset` (rank, random or della kinds). */
function applyMaskOf(k: Kernels, d: PassData, m: number, mask: F32Buf, tv: F32Buf, offset: number, sel: number, counts: number, work: DType): void {
  if (d.kinds[m] === "rank") {
    k.call("rank_mask_apply", tv.ptr, tv.ptr, tv.length, sel + m * SEL_WORDS * 4, counts + m * 8);
  } else if (d.kinds[m] === "della") {
    // keep probabilities per row into the mask buffer, then the mask drawn over them in place
    const [low, eps] = d.della[m]!;
    const scratch = k.alloc(dellaScratchBytes(d.rowLen));
    k.call("della_probs", mask.ptr, tv.ptr, tv.length / d.rowBlock, d.rowLen, d.rowBlock / d.rowLen, fromBits(low!), fromBits(eps!), DTYPES[work].code, scratch);
    k.call("rng_bernoulli", mask.ptr, d.keys[m]![0]!, d.keys[m]![1]!, offset, mask.ptr, 1, tv.length);
    k.call("mask_apply", tv.ptr, tv.ptr, mask.ptr, tv.length);
  } else {
    const p = k.f32Array([fromBits(d.p[m]!)]);
    k.call("rng_bernoulli", mask.ptr, d.keys[m]![0]!, d.keys[m]![1]!, offset, p, 0, tv.length);
    k.call("mask_apply", tv.ptr, tv.ptr, mask.ptr, tv.length);
  }
}

/** The dtype a kind masks and rescales in: float32 for the random ones on float16 (torch.bernoulli). */
function workOf(kind: Kind, dtype: DType): DType {
  return kind === "random" || kind === "della" ? randomWorkDtype(dtype) : dtype;
}

/** Whether some task vector of `tvs` is computed from the base on this tile (not decoded from a kept tile). */
function needsBase(ctx: StreamTileContext, tvs: readonly number[]): boolean {
  return ctx.kept !== "read" || tvs.some((input) => !holdsTaskVector(ctx.inputs[input]!.dtype, ctx.dtype));
}

/**
 * The steps that work on stored bfloat16 bytes (sample and hist chunk by chunk, band per tile):
 *   sample  (first pass, kept tiles) each task vector replaces its model's bytes; sampled keys of
 *           the ranked ones are counted into the thread's histograms;
 *   band    (kept task vectors) counts above and in each ranked task vector's band;
 *   hist    (first pass, bfloat16) as sample with every key counted, written back when kept.
 */
function storedSteps(ctx: StreamTileContext, d: PassData): void {
  const k = ctx.kernels;
  const T = d.tvs.length;
  const n = ctx.numel;
  const base = ctx.inputs[ctx.baseIndex!]!.ptr;
  const ranked = (m: number) => d.kinds[m] === "rank" && d.sel[m]!.length === 0;
  if (d.step === "band") {
    d.tvs.forEach((input, m) => {
      const b = d.band[m]!;
      if (b.length === 0) return;
      const counts = d.perTile ? d.perTile + (ctx.tile * T + m) * BAND_BINS * 4 : ctx.acc + (T + m * BAND_BINS) * 4;
      k.call("rank_band_bf16", ctx.inputs[input]!.ptr, n, b[0]!, b[1]!, b[2]!, ctx.acc + m * 4, counts);
    });
    return;
  }
  if (d.step === "sample" && ctx.kept !== "write") throw new AmalgamError("E_METHOD", `tensor "${ctx.tensor}": the sample pass needs its task vectors kept in memory`);
  // the sample's histograms go to the thread accumulator (its first T words count keys above a
  // predicted band); the hist step's to per-tile memory when there is some
  const hists = d.tvs.map((_, m) => (!ranked(m) ? 0 : d.step === "hist" && d.perTile ? d.perTile + (ctx.tile * T + m) * RANK_HI_BINS * 4 : ctx.acc + (T + m * RANK_HI_BINS) * 4));
  const write = ctx.kept === "write";
  const shift = d.step === "sample" ? d.shift : 0;
  // chunk by chunk, so the base's chunk stays in cache for every task vector
  for (let c = 0; c < n; c += CHUNK) {
    const len = Math.min(CHUNK, n - c);
    d.tvs.forEach((input, m) => {
      const x = ctx.inputs[input]!.ptr + c * 2;
      if (write || hists[m] !== 0) k.call("tv_bf16", write ? x : 0, x, base + c * 2, len, hists[m]!, ctx.offset + c, shift);
      // a predicted band, counted while the chunk's task vector is in cache
      const b = d.step === "sample" ? d.band[m] : undefined;
      if (b && b.length) k.call("rank_band_bf16", x, len, b[0]!, b[1]!, b[2]!, ctx.acc + m * 4, d.perTile + (ctx.tile * T + m) * BAND_BINS * 4);
    });
  }
}

function tile(ctx: StreamTileContext): void {
  const k = ctx.kernels;
  const outBytes = DTYPES[ctx.outDtype].bytes;
  if (ctx.step === "pre") {
    const pre = ctx.data as PreData;
    for (let c = 0; c < ctx.numel; c += CHUNK) {
      const n = Math.min(CHUNK, ctx.numel - c);
      const mark = k.mark();
      const base = needsBase(ctx, pre.tvs) ? decodeChunk(k, ctx.inputs[ctx.baseIndex!]!, c, n, ctx.dtype) : undefined;
      pre.tvs.forEach((input, m) => {
        const key = pre.keys[m]!;
        if (key.length === 0) return;
        const tv = taskVectorOf(k, ctx, ctx.inputs[input]!, c, n, base);
        k.call("rank_count_eq", pre.counts + (ctx.tile * pre.tvs.length + m) * 8, tv.ptr, n, key[0]!, key[1]!);
      });
      k.release(mark);
    }
    return;
  }
  const d = ctx.data as PassData;
  const T = d.tvs.length;
  if (d.step === "sample" || d.step === "band" || (d.step === "hist" && ctx.kept !== "read" && allBf16(ctx, d.tvs))) {
    storedSteps(ctx, d);
    return;
  }
  const acc64 = ctx.acc; // the l1 step has no u32 words
  // selection words and running ordinals (from tileData), advanced chunk by chunk
  const sel = k.u32Array(d.sel.flatMap((w) => (w.length ? w : new Array<number>(SEL_WORDS).fill(0))));
  const prefix = (ctx.tileData as readonly number[] | null) ?? [];
  const counts = k.u32Array(Array.from({ length: T * 2 }, (_, i) => prefix[i] ?? 0));
  const ws = k.f32Array(d.ws.map(fromBits));
  if (d.step === "final" && finalBf16(k, ctx, d, sel, counts, ws)) return; // the common bf16 case in one kernel
  const chunk = d.rowBlock ? Math.floor(CHUNK / d.rowBlock) * d.rowBlock : CHUNK;
  for (let c = 0; c < ctx.numel; c += chunk) {
    const n = Math.min(chunk, ctx.numel - c);
    const mark = k.mark();
    const base = d.step === "final" || needsBase(ctx, d.tvs) ? decodeChunk(k, ctx.inputs[ctx.baseIndex!]!, c, n, ctx.dtype) : undefined;
    const tvs = d.tvs.map((input) => taskVectorOf(k, ctx, ctx.inputs[input]!, c, n, base));
    if (ctx.kept === "write") {
      // later passes decode these instead of computing them again (before any masking below)
      d.tvs.forEach((input, m) => {
        const inp = ctx.inputs[input]!;
        if (holdsTaskVector(inp.dtype, ctx.dtype)) k.call("encode", inp.ptr + c * DTYPES[inp.dtype].bytes, tvs[m]!.ptr, DTYPES[inp.dtype].code, n);
      });
    }
    const mask = k.allocF32(n);
    if (d.step === "hist") {
      tvs.forEach((tv, m) => {
        if (d.kinds[m] === "rank" && d.sel[m]!.length === 0) {
          const hist = d.perTile ? d.perTile + (ctx.tile * T + m) * RANK_HI_BINS * 4 : ctx.acc + (T + m * RANK_HI_BINS) * 4;
          k.call("rank_hist_hi", hist, tv.ptr, n, ctx.acc + m * 4);
        }
      });
    } else if (d.step === "lo") {
      tvs.forEach((tv, m) => {
        d.bins[m]!.forEach((bin, j) => {
          if (bin >= 0) k.call("rank_hist_lo", ctx.acc + (m * 2 + j) * RANK_LO_BINS * 4, tv.ptr, n, bin);
        });
      });
    } else if (d.step === "l1") {
      tvs.forEach((tv, m) => {
        if (!d.l1[m]) return;
        const before = acc64 + m * 2 * L1_ACC_BYTES;
        k.call("l1_accumulate", before, tv.ptr, n);
        applyMaskOf(k, d, m, mask, tv, ctx.offset + c, sel, counts, workOf(d.kinds[m]!, ctx.dtype));
        k.call("l1_accumulate", before + L1_ACC_BYTES, tv.ptr, n);
      });
    } else {
      tvs.forEach((tv, m) => {
        const kind = d.kinds[m];
        if (kind === "none") return;
        if (kind === "drop") {
          k.f32(tv).fill(0);
          return;
        }
        const work = workOf(kind!, ctx.dtype);
        applyMaskOf(k, d, m, mask, tv, ctx.offset + c, sel, counts, work);
        const f = d.factors[m];
        finishMasked(k, tv.ptr, n, f === null || f === undefined ? undefined : fromBits(f), work, ctx.dtype);
      });
      const out = base!; // decoded on every final step
      if (T > 0) k.call("gta_combine", out.ptr, out.ptr, k.u32Array(tvs.map((tv) => tv.ptr)), ws, T, n, ctx.mode, d.flags, fromBits(d.div), fromBits(d.lambda));
      k.call("encode", ctx.out + c * outBytes, out.ptr, DTYPES[ctx.outDtype].code, n);
    }
    k.release(mark);
  }
}

/** The streamed path of a gta variant. */
export function gtaStreamed(v: GtaVariant): StreamedMethod {
  const della = v.sparsification === "della_magprune";
  return {
    // the largest accumulator, and della_probs' scratch for rows of up to a chunk
    accBytes: (inputs) => Math.max(hist32(inputs, false) * 4, lo32(inputs) * 4, l164(inputs) * 8 + (della ? dellaScratchBytes(CHUNK) + 64 : 0)) + 64,
    ...(della ? { alignTile: alignDellaTile } : {}),
    begin: (ctx) => begin(v, ctx),
    tile,
  };
}
