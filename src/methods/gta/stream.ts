// The task-arithmetic family streamed: a tensor merged in passes over tiles read by byte range
// (src/executor/streamed.ts), never held whole. Same bytes as mergeGta for every tile size and
// thread count:
//   hist   (rank sparsifiers: ties, breadcrumbs) per-model histograms of the |delta| bits >> 16;
//   lo     (only when some key has low bits, i.e. float16/float32) the low bits of the boundary bins;
//   l1     (rescale) the exact L1 norms before and after masking (l1-sum.ts);
//          DELLA ranks within rows, so its tiles and chunks hold whole rows and need nothing else;
//   final  each output tile from its inputs and the statistics.
// Equal |delta| at a boundary are kept by flat index, so marking a tile needs the number of
// boundary-equal elements before it. For bfloat16 tensors of few enough tiles the hist pass keeps
// one histogram per tile, which holds those counts; otherwise the first pass that marks has a
// `pre` step counting them per tile. The driver adds the counts up in tile order (tileData).
// Every float crossing to the tile jobs travels as its float32 bits (JSON has no -0, NaN or inf).
import { AmalgamError } from "../../errors.ts";
import type { DType } from "../../dtype.ts";
import { DTYPES } from "../../dtype.ts";
import { dellaScratchBytes, L1_ACC_BYTES, RANK_HI_BINS, RANK_LO_BINS, SEL_HI, SEL_LO, SEL_WORDS } from "../../kernels/abi-gta.ts";
import type { F32Buf, Kernels } from "../../kernels/kernels.ts";
import { toDType } from "../../kernels/scalar.ts";
import { streamKey } from "../../random/stream-key.ts";
import type { JsonValue, StreamBeginContext, StreamDriver, StreamedMethod, StreamPass, StreamTileContext, StoredInput } from "../types.ts";
import type { GtaVariant } from "./combine-params.ts";
import { combineParams, sparsifyParams } from "./combine-params.ts";
import { l1Value } from "./l1-sum.ts";
import { finalBf16 } from "./final-bf16.ts";
import { finishMasked, rescaleFactor } from "./rescale.ts";
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

type Step = "hist" | "lo" | "l1" | "final";

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
  /** hist: per-tile histograms (tiles x task vectors x 32768 u32) instead of the thread accumulator; 0: none. */
  readonly perTile: number;
};

/** The count step before marking: per-tile counts of each task vector's boundary keys go to `counts`. */
type PreData = {
  readonly counts: number;
  readonly tvs: readonly number[];
  readonly keys: readonly (readonly number[])[];
};

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0]!;
}
function fromBits(b: number): number {
  u32[0] = b >>> 0;
  return f32[0]!;
}

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
  factor?: number;
}

/** The main-thread side of one streamed tensor. */
class GtaDriver implements StreamDriver {
  private stage: "start" | "hist" | "lo" | "l1" | "final" = "start";
  private counts = 0;
  private counted = false;
  private prefix: number[];
  /** Per-tile histograms of the hist pass (main-thread memory), and whether they give the boundary counts. */
  private perTile = 0;
  private perTileCounts = false;

  constructor(
    readonly inputs: readonly number[],
    private readonly v: GtaVariant,
    private readonly ctx: StreamBeginContext,
    private readonly tvs: TaskVectorPlan[],
    private readonly combine: { ws: number[]; div: number; lambda: number; flags: number },
    private readonly rescale: boolean,
  ) {
    this.prefix = new Array<number>(tvs.length * 2).fill(0);
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
      ...extra,
    };
  }

  /** Pre step counting boundary keys, when some selection needs ordinals and none were counted. */
  private pre(): PreData | undefined {
    if (this.counted || this.perTileCounts || !this.tvs.some((t) => t.sel?.needsOrdinals)) return undefined;
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
    return pre ? { data, pre, acc32, acc64, final } : { data, acc32, acc64, final };
  }

  next(acc: number | undefined): StreamPass {
    const k = this.ctx.kernels;
    const n = this.ctx.numel;
    const T = this.tvs.length;
    if (this.stage === "hist" && acc !== undefined) {
      const lowOr = new Uint32Array(k.memory.buffer, acc, T).slice();
      this.tvs.forEach((t, m) => {
        if (t.kind !== "rank" || t.sel) return;
        t.hist = this.perTile ? this.sumTiles(m) : new Uint32Array(k.memory.buffer, acc + (T + m * RANK_HI_BINS) * 4, RANK_HI_BINS).slice();
        t.stage = stageOne(t.range!, n, t.hist);
        t.lowOr = lowOr[m]!;
        if (t.lowOr === 0) t.sel = selection(t.range!, t.stage, t.hist, {});
      });
      // every bin one key: the per-tile histograms count the boundary keys of each tile
      this.perTileCounts = this.perTile !== 0 && this.ranked().length === 0;
      if (this.ranked().length > 0) {
        this.stage = "lo";
        const bins = this.tvs.map((t) => (t.kind === "rank" && !t.sel ? [t.stage!.lo?.bin ?? -1, t.stage!.hi?.bin ?? -1] : [-1, -1]));
        return this.pass(this.data("lo", { bins }), lo32(T), 0, false);
      }
    } else if (this.stage === "lo" && acc !== undefined) {
      this.tvs.forEach((t, m) => {
        if (t.kind !== "rank" || t.sel) return;
        const at = (j: number) => new Uint32Array(k.memory.buffer, acc + (m * 2 + j) * RANK_LO_BINS * 4, RANK_LO_BINS).slice();
        t.sel = selection(t.range!, t.stage!, t.hist!, { lo: t.stage!.lo ? at(0) : undefined, hi: t.stage!.hi ? at(1) : undefined });
      });
    } else if (this.stage === "l1" && acc !== undefined) {
      this.tvs.forEach((t, m) => {
        if (!masked(t.kind)) return;
        const before = acc + m * 2 * L1_ACC_BYTES;
        t.factor = rescaleFactor(l1Value(k, before), l1Value(k, before + L1_ACC_BYTES), t.work);
      });
      this.stage = "final";
      return this.pass(this.data("final"), 0, 0, true, this.pre());
    }
    if (this.stage === "start") {
      for (const t of this.tvs) {
        if (t.kind === "rank") {
          const trivial = trivialRange(t.range!, n);
          if (trivial) t.sel = trivialSelection(trivial);
        }
      }
      if (this.ranked().length > 0) {
        this.stage = "hist";
        const bytes = this.ctx.tiles * T * RANK_HI_BINS * 4;
        // With one histogram per tile and model (within the statistics budget), the count of a
        // bfloat16 boundary key in each tile is known after this pass: a bf16 key is its own bin.
        if (this.ctx.dtype === "BF16" && bytes <= this.ctx.statsBytes) {
          this.perTile = k.alloc(bytes);
          k.bytes(this.perTile, bytes).fill(0);
        }
        return this.pass(this.data("hist", { perTile: this.perTile }), hist32(T, this.perTile !== 0), 0, false);
      }
    }
    if (this.rescale && this.tvs.some((t) => masked(t.kind))) {
      this.stage = "l1";
      return this.pass(this.data("l1"), 0, l164(T), false, this.pre());
    }
    this.stage = "final";
    return this.pass(this.data("final"), 0, 0, true, this.pre());
  }

  /** The histogram of task vector m: the sum of its per-tile histograms. */
  private sumTiles(m: number): Uint32Array {
    const T = this.tvs.length;
    const sum = new Uint32Array(RANK_HI_BINS);
    for (let tile = 0; tile < this.ctx.tiles; tile++) {
      const h = new Uint32Array(this.ctx.kernels.memory.buffer, this.perTile + (tile * T + m) * RANK_HI_BINS * 4, RANK_HI_BINS);
      for (let b = 0; b < RANK_HI_BINS; b++) sum[b]! += h[b]!;
    }
    return sum;
  }

  tileData(tile: number): JsonValue {
    const T = this.tvs.length;
    const out = this.prefix.slice();
    if (this.perTileCounts) {
      const mem = this.ctx.kernels.memory.buffer;
      this.tvs.forEach((t, m) => {
        const w = t.sel?.words;
        if (!t.sel?.needsOrdinals || !w) return;
        const h = new Uint32Array(mem, this.perTile + (tile * T + m) * RANK_HI_BINS * 4, RANK_HI_BINS);
        if (w[0]! & SEL_LO) this.prefix[m * 2]! += h[w[1]! >>> 16]!;
        if (w[0]! & SEL_HI) this.prefix[m * 2 + 1]! += h[w[2]! >>> 16]!;
      });
    } else if (this.counts) {
      const c = new Uint32Array(this.ctx.kernels.memory.buffer, this.counts + tile * T * 8, T * 2);
      for (let i = 0; i < T * 2; i++) this.prefix[i]! += c[i]!;
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
