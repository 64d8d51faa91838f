// MergeKit's sparsifiers (sparsify.py), each on one task vector in place. Every one leaves the
// task vector unchanged when density >= 1.
import { AmalgamError } from "../../errors.ts";
import type { DType } from "../../dtype.ts";
import { DTYPES } from "../../dtype.ts";
import { dellaScratchBytes, SELECT_SCRATCH_BYTES, TIE_INDEX_ASC, TIE_INDEX_DESC } from "../../kernels/abi-gta.ts";
import type { F32Buf } from "../../kernels/kernels.ts";
import { toDType } from "../../kernels/scalar.ts";
import { streamKey } from "../../random/stream-key.ts";
import type { MergeContext } from "../types.ts";
import { applyMask } from "./rescale.ts";
import type { TaskVector } from "./task-vectors.ts";

export type Sparsification = "magnitude" | "magnitude_outliers" | "random" | "della_magprune";

export interface SparsifyParams {
  readonly method: string;
  readonly density: number;
  readonly gamma: number;
  readonly epsilon: number;
  readonly rescale: boolean;
}

/** torch.bernoulli on CPU has no float16 kernel, so MergeKit draws and rescales in float32 there. */
export function randomWorkDtype(dtype: DType): DType {
  return dtype === "F16" ? "F32" : dtype;
}

/** Python's int(x) for the counts MergeKit computes. */
function pyInt(x: number): number {
  return Math.trunc(x);
}

function maskRanks(ctx: MergeContext, tv: F32Buf, lo: number, hi: number, tie: number): F32Buf {
  const k = ctx.kernels;
  const mask = k.allocF32(tv.length);
  k.call("mask_rank_range", mask.ptr, tv.ptr, tv.length, lo, hi, tie, k.alloc(SELECT_SCRATCH_BYTES));
  return mask;
}

/** What the rank sparsifiers need of their caller: the tensor, --fix-quirks, warnings and quirks. */
export interface SparsifyHost {
  readonly tensor: string;
  readonly fixQuirks: boolean;
  warn(message: string): void;
  quirk(id: string, description: string): void;
}

/** Ranks [lo, hi) kept, in tie order `tie` (TIE_INDEX_ASC / TIE_INDEX_DESC; see abi-gta.ts). */
export interface RankRange {
  readonly lo: number;
  readonly hi: number;
  readonly tie: number;
}

/**
 * ties: keep the int(density * n) largest |delta| (equal |delta|: lower index first); undefined
 * when int(density * n) <= 0 and the task vector is dropped.
 */
function magnitudeRange(host: SparsifyHost, model: string, p: SparsifyParams, n: number): RankRange | undefined {
  const keep = pyInt(p.density * n);
  if (keep <= 0) {
    // MergeKit stops with an AssertionError here; Amalgam drops the task vector (docs/compat.md).
    host.warn(`${p.method}: int(density × numel) is 0 for model ${model} on tensor "${host.tensor}" (density ${p.density}, ${n} elements); its task vector is dropped (MergeKit stops with an AssertionError)`);
    return undefined;
  }
  return { lo: n - keep, hi: n, tie: TIE_INDEX_DESC };
}

/**
 * breadcrumbs: drop the int(gamma * n) largest and enough of the smallest |delta| to keep
 * int(density * n): MergeKit keeps `ascending_order[n_bot : -n_top]`, ties by lower index first.
 */
function outliersRange(host: SparsifyHost, p: SparsifyParams, n: number): RankRange {
  const target = pyInt(p.density * n);
  let nTop = pyInt(p.gamma * n);
  let nBot = n - target - nTop;
  if (nBot < 0) {
    nTop += nBot;
    nBot = 0;
  }
  // Python slice bounds of [n_bot : -n_top]
  let stop = nTop > 0 ? n - nTop : Math.min(-nTop, n);
  if (nTop === 0) {
    if (host.fixQuirks) {
      stop = n;
      host.quirk("breadcrumbs-gamma-zero", `${p.method}: int(gamma × numel) is 0, so MergeKit's slice [n_bot:-0] keeps nothing and drops the whole task vector; kept the ${n - nBot} largest |delta| instead`);
    } else {
      host.quirk("breadcrumbs-gamma-zero", `${p.method}: int(gamma × numel) is 0, so MergeKit's slice [n_bot:-0] keeps nothing: the whole task vector was dropped, as MergeKit does`);
    }
  }
  return { lo: Math.min(Math.max(nBot, 0), n), hi: Math.max(stop, 0), tie: TIE_INDEX_ASC };
}

/** The ranks a magnitude sparsifier keeps of a task vector of n elements; undefined: dropped. */
export function rankRange(host: SparsifyHost, how: "magnitude" | "magnitude_outliers", model: string, p: SparsifyParams, n: number): RankRange | undefined {
  return how === "magnitude" ? magnitudeRange(host, model, p, n) : outliersRange(host, p, n);
}

function rankSparsify(how: "magnitude" | "magnitude_outliers", ctx: MergeContext, tv: TaskVector, p: SparsifyParams): void {
  const r = rankRange(ctx, how, tv.input.model, p, tv.buf.length);
  if (!r) {
    ctx.kernels.f32(tv.buf).fill(0);
    return;
  }
  const mask = maskRanks(ctx, tv.buf, r.lo, r.hi, r.tie);
  applyMask(ctx.kernels, tv.buf, mask, p.rescale, ctx.dtype, ctx.dtype);
}

/** DARE: keep each element with probability density (a Bernoulli mask from the counter-based RNG). */
function bernoulli(ctx: MergeContext, tv: TaskVector, p: SparsifyParams): void {
  const k = ctx.kernels;
  const work = randomWorkDtype(ctx.dtype);
  const n = tv.buf.length;
  const key = streamKey(ctx.seed, ctx.modelIndices[tv.index]!, ctx.tensor, "dare-mask");
  const mask = k.allocF32(n);
  k.call("rng_bernoulli", mask.ptr, key.lo, key.hi, 0, k.f32Array([toDType(p.density, work)]), 0, n);
  applyMask(k, tv.buf, mask, p.rescale, work, ctx.dtype);
}

/** Rows of MergeKit's per-row ranking (dim 1; a 1-D tensor is one row). */
function rowLayout(shape: readonly number[], n: number): { outer: number; rowLen: number; inner: number } {
  if (shape.length < 2) return { outer: 1, rowLen: n, inner: 1 };
  return { outer: shape[0]!, rowLen: shape[1]!, inner: shape.slice(2).reduce((a, b) => a * b, 1) };
}

/** DELLA: per row, keep probability from density - epsilon (smallest |delta|) to density + epsilon (largest). */
function dellaMagprune(ctx: MergeContext, tv: TaskVector, p: SparsifyParams): void {
  const k = ctx.kernels;
  if (p.density <= 0) {
    k.f32(tv.buf).fill(0);
    return;
  }
  if (p.density + p.epsilon >= 1 || p.density - p.epsilon <= 0) {
    throw new AmalgamError("E_CONFIG", `${p.method}: tensor "${ctx.tensor}", model ${tv.input.model}: epsilon ${p.epsilon} with density ${p.density} puts density ± epsilon outside (0, 1)`);
  }
  const work = randomWorkDtype(ctx.dtype);
  const n = tv.buf.length;
  const { outer, rowLen, inner } = rowLayout(tv.input.shape, n);
  const probs = k.allocF32(n);
  k.call("della_probs", probs.ptr, tv.buf.ptr, outer, rowLen, inner, toDType(p.density - p.epsilon, work), toDType(p.epsilon, work), DTYPES[work].code, k.alloc(dellaScratchBytes(rowLen)));
  const key = streamKey(ctx.seed, ctx.modelIndices[tv.index]!, ctx.tensor, "della-mask");
  const mask = k.allocF32(n);
  k.call("rng_bernoulli", mask.ptr, key.lo, key.hi, 0, probs.ptr, 1, n);
  applyMask(k, tv.buf, mask, p.rescale, work, ctx.dtype);
}

const SPARSIFIERS: Readonly<Record<Sparsification, (ctx: MergeContext, tv: TaskVector, p: SparsifyParams) => void>> = {
  magnitude: (ctx, tv, p) => rankSparsify("magnitude", ctx, tv, p),
  magnitude_outliers: (ctx, tv, p) => rankSparsify("magnitude_outliers", ctx, tv, p),
  random: bernoulli,
  della_magprune: dellaMagprune,
};

/** Sparsifies one task vector in place; scratch memory is released afterwards. */
export function sparsify(ctx: MergeContext, tv: TaskVector, how: Sparsification, p: SparsifyParams): void {
  if (p.density >= 1) return;
  const mark = ctx.kernels.mark();
  SPARSIFIERS[how](ctx, tv, p);
  ctx.kernels.release(mark);
}
