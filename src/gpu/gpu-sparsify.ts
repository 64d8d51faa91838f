// The task-arithmetic sparsifiers on the GPU, with the choices of src/methods/gta/sparsify.ts:
// magnitude (TIES) and magnitude_outliers (breadcrumbs) by the rank selection, random (DARE) and
// della_magprune (DELLA) by the counter-based generator computed on the GPU, and MergeKit's L1
// rescale from exact integer norms read back to the host (one read per tensor), which computes the
// factor as rescale.ts does.
import { AmalgamError } from "../errors.ts";
import type { DType } from "../dtype.ts";
import { DTYPES } from "../dtype.ts";
import { TIE_INDEX_DESC } from "../kernels/abi-gta.ts";
import { toDType } from "../kernels/scalar.ts";
import { l1FromBuckets } from "../methods/gta/l1-sum.ts";
import { rescaleFactor } from "../methods/gta/rescale.ts";
import { randomWorkDtype, rankRange } from "../methods/gta/sparsify.ts";
import type { Sparsification, SparsifyParams } from "../methods/gta/sparsify.ts";
import { streamKey } from "../random/stream-key.ts";
import { dellaRanks, dellaRows, dellaTable } from "./gpu-della.ts";
import type { GpuMergeContext, GpuMergeInput } from "./gpu-method.ts";
import { selectRankRange } from "./gpu-select.ts";
import type { GpuBufferLike } from "./webgpu-types.ts";
import { L1_ACC_WORDS } from "./wgsl-sparsify.ts";

/** One task vector to sparsify: its input (overwritten), position in ctx.inputs, selection slot. */
export interface GpuTaskVector {
  readonly input: GpuMergeInput;
  readonly index: number;
  readonly slot: number;
}

/** A masked task vector still to be rescaled and rounded. */
interface Masked {
  readonly tv: GpuTaskVector;
  readonly work: DType;
  /** Accumulator of the L1 norm before masking (the one after is the next). */
  readonly acc: number;
}

function drop(ctx: GpuMergeContext, tv: GpuTaskVector): void {
  // a zero of each element's sign: the combine's sums, which start at +0, make them +0 as the CPU's fill(0)
  selectRankRange(ctx.gpu, tv.input.tensor, 0, 0, false, tv.slot);
}

/**
 * Sparsifies every task vector in place, as sparsify() does on the CPU for each. `rescale`: the
 * norms of all task vectors are read back together, then each is scaled.
 */
export async function sparsifyAll(ctx: GpuMergeContext, how: Sparsification, tvs: readonly GpuTaskVector[], params: readonly SparsifyParams[]): Promise<void> {
  const g = ctx.gpu;
  const n = ctx.numel;
  const chunks = tvs[0]?.input.tensor.chunks ?? [];
  const rescale = params.some((p) => p.rescale && p.density < 1);
  const accBuf = rescale ? g.buffer(2 * tvs.length * L1_ACC_WORDS * 4) : undefined;
  if (accBuf) g.clear(accBuf);
  const l1 = (tv: GpuTaskVector, acc: number): void => {
    for (const c of tv.input.tensor.chunks) g.dispatch("l1_acc", c, { u: [acc * L1_ACC_WORDS] }, [c.buf, accBuf!]);
  };
  const scratch: GpuBufferLike[] = [];
  const dummy = g.buffer(16);
  scratch.push(dummy);
  const masked: Masked[] = [];
  tvs.forEach((tv, t) => {
    const p = params[t]!;
    if (p.density >= 1) return;
    const x = tv.input.tensor;
    const acc = 2 * t;
    let work = ctx.dtype;
    if (how === "magnitude" || how === "magnitude_outliers") {
      const r = rankRange(ctx, how, tv.input.model, p, n);
      if (!r) return drop(ctx, tv);
      if (p.rescale) l1(tv, acc);
      selectRankRange(g, x, r.lo, r.hi, r.tie === TIE_INDEX_DESC, tv.slot);
    } else if (how === "random") {
      work = randomWorkDtype(ctx.dtype);
      const key = streamKey(ctx.seed, ctx.modelIndices[tv.index]!, ctx.tensor, "dare-mask");
      if (p.rescale) l1(tv, acc);
      for (const c of x.chunks) g.dispatch("bernoulli", c, { u: [key.lo, key.hi, 0], f: [toDType(p.density, work)] }, [c.buf, dummy, dummy]);
    } else {
      if (p.density <= 0) return drop(ctx, tv);
      if (p.density + p.epsilon >= 1 || p.density - p.epsilon <= 0) {
        throw new AmalgamError("E_CONFIG", `${p.method}: tensor "${ctx.tensor}", model ${tv.input.model}: epsilon ${p.epsilon} with density ${p.density} puts density ± epsilon outside (0, 1)`);
      }
      work = randomWorkDtype(ctx.dtype);
      const { rowLen, inner } = dellaRows(ctx.shape, n);
      const table = g.buffer(Math.max(rowLen, 1) * 4);
      const probs = dellaTable(rowLen, toDType(p.density - p.epsilon, work), toDType(p.epsilon, work), work);
      g.upload(table, 0, new Uint8Array(probs.buffer));
      const ranks = chunks.map((c) => g.buffer(c.n * 4));
      scratch.push(table, ...ranks);
      dellaRanks(g, x, rowLen, inner, ranks);
      const key = streamKey(ctx.seed, ctx.modelIndices[tv.index]!, ctx.tensor, "della-mask");
      if (p.rescale) l1(tv, acc);
      x.chunks.forEach((c, i) => g.dispatch("bernoulli", c, { u: [key.lo, key.hi, 1] }, [c.buf, ranks[i]!, table]));
    }
    if (p.rescale) l1(tv, acc + 1);
    masked.push({ tv, work, acc });
  });
  let words: Uint32Array | undefined;
  if (accBuf && masked.length) {
    const bytes = await g.readBack(accBuf, accBuf.size);
    words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  }
  const norm = (acc: number): number => {
    const at = acc * L1_ACC_WORDS;
    return l1FromBuckets((e) => (BigInt(words![at + 256 + e]!) << 32n) | BigInt(words![at + e]!));
  };
  for (const m of masked) {
    const p = params[tvs.indexOf(m.tv)]!;
    const factor = p.rescale ? rescaleFactor(norm(m.acc), norm(m.acc + 1), m.work) : undefined;
    if (factor === undefined && m.work === ctx.dtype) continue;
    for (const c of m.tv.input.tensor.chunks) {
      g.dispatch("scale_round", c, { mode: ctx.mode, u: [factor === undefined ? 0 : 1, DTYPES[m.work].code], f: [factor ?? 0] }, [c.buf]);
    }
  }
  if (accBuf) scratch.push(accBuf);
  g.release(...scratch);
}
