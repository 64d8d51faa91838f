// Multi-pass merges of one tensor over tiles read by byte range, for methods that are not
// elementwise but declare a streamed path (MethodDef.streamed): the tensor is never held whole.
//
// The method's driver (main thread) asks for passes one after another. In every pass each tile's
// inputs are read into a slot and a tile job runs on any thread:
// - statistics add into a per-thread accumulator (the first bytes of the thread's scratch region,
//   zeroed before the pass); after the pass the accumulators are summed (integers, so the order
//   does not matter) and handed to the driver, which chooses the next pass;
// - a pass may have a `pre` step per tile whose results the driver reads in tile order
//   (tileData), before the tile's main step is dispatched with them: counts that depend on what
//   precedes a tile (equal keys at a top-k boundary) come out the same for any tile size;
// - the final pass's main step writes the output tile, written in order.
// Reads of later tiles overlap the work on earlier ones; slots bound the bytes in flight. With worker
// threads, a tensor whose inputs are kept has them read ahead, while the tensors before it run
// (read-ahead.ts), into the span of memory where they stay for its passes.
import { DTYPES } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import type { FileWriter } from "../io/storage.ts";
import type { Kernels } from "../kernels/kernels.ts";
import { getMethod } from "../methods/registry.ts";
import type { JsonValue, StreamPass } from "../methods/types.ts";
import type { MergePlan, PlannedTensor } from "../plan/types.ts";
import type { TileJob, TileResult } from "./tile-job.ts";
import type { TilePool } from "./tile-pool.ts";
import { READ_ALIGN, alignUp, placeRead } from "./read-placement.ts";
import { keptLayout, keptRead } from "./prefetch.ts";
import type { KeptInput, Prefetch, Region } from "./prefetch.ts";

/** What a tile job of a streamed pass carries besides the tile (TileJob.stream). */
export interface StreamStep {
  readonly step: "pre" | "main";
  readonly tile: number;
  readonly data: JsonValue;
  readonly tileData: JsonValue;
  readonly acc32: number;
  readonly acc64: number;
  /** StreamTileContext.kept. */
  readonly kept?: "write" | "read";
}

/** Bytes of an accumulator of acc32 u32 words then acc64 u64 words (at a multiple of 8). */
export function accBytes(acc32: number, acc64: number): number {
  return Math.ceil((acc32 * 4) / 8) * 8 + acc64 * 8;
}

const align64 = (x: number) => Math.ceil(x / 64) * 64;

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Bytes the whole-tensor path holds for `t`: every input as float32, a mask and the float32
 * result, the encoded output and the largest input's raw bytes while it is decoded.
 */
export function wholeTensorBytes(t: PlannedTensor): number {
  const numel = numelOf(t.shape);
  const inputs = t.sources.reduce((a, s) => a + numelOf(s.tensor.shape) * 4, 0);
  const raw = Math.max(0, ...t.sources.map((s) => s.tensor.byteLength));
  return inputs + numel * 8 + numel * DTYPES[t.outDtype].bytes + raw;
}

export interface StreamingPlan {
  /** Tensors merged by the streamed path (it may still decline one and merge it whole). */
  readonly tensors: ReadonlySet<PlannedTensor>;
  /** Bytes of tile slots (the rest of the budget is left to tensors merged whole). */
  readonly slotBudget: number;
  /** Per-thread accumulator bytes to add to each scratch region. */
  readonly accBytes: number;
  /**
   * Main-thread bytes a driver may hold for statistics: a sixteenth of the budget. (An eighth let
   * the gta driver keep per-tile histograms of `embed_tokens` and `lm_head`, 20 MB on the bench's
   * TinyLlama shape, in place of counting the boundary keys per tile in the final pass: the same
   * time, cold and warm, for 17-19 MB more peak RSS.)
   */
  readonly statsBytes: number;
  /**
   * Main-thread bytes that keep a streamed tensor's stored inputs between passes: three eighths of
   * the budget, with statsBytes the half left to tensors merged whole (a streamed tensor and a
   * whole one never run at once).
   */
  readonly cacheBytes: number;
}

/**
 * Tensors of at least this many elements stream even when they would fit: the passes over L2-sized
 * chunks cost less than the whole-tensor path's passes over float32 arrays in main memory (a
 * TinyLlama-shaped ties merge: about 7% less CPU time).
 */
export const STREAM_MIN_ELEMENTS = 1 << 18;

/**
 * Which tensors to stream: those of a method with a streamed path whose whole-tensor working set
 * exceeds half the budget (the slots take the other half) or that have STREAM_MIN_ELEMENTS
 * elements, or all of them when a tile size is forced (tests). Drivers may hold a sixteenth of the
 * budget in statistics besides.
 */
export function planStreaming(plan: MergePlan, budget: number, forcedTile: number | undefined): StreamingPlan {
  const s = plan.method.streamed;
  const tensors = new Set<PlannedTensor>();
  const statsBytes = Math.floor(budget / 16);
  if (!s || plan.method.elementwise) return { tensors, slotBudget: budget, accBytes: 0, statsBytes, cacheBytes: 0 };
  for (const t of plan.tensors) {
    if (forcedTile !== undefined || wholeTensorBytes(t) > budget / 2 || numelOf(t.shape) >= STREAM_MIN_ELEMENTS) tensors.add(t);
  }
  const maxK = Math.max(1, ...[...tensors].map((t) => t.sources.length));
  const cacheBytes = tensors.size ? Math.max(0, Math.floor(budget / 2) - Math.floor(budget / 8)) : 0;
  return { tensors, slotBudget: tensors.size ? Math.floor(budget / 2) : budget, accBytes: tensors.size ? align64(s.accBytes(maxK)) : 0, statsBytes, cacheBytes };
}

export interface StreamSlot {
  readonly inputs: readonly number[];
  readonly out: number;
}

/** How a streamed tensor runs: the executor's fixed regions and its pool. */
export interface StreamEnv {
  readonly k: Kernels;
  readonly pool: TilePool;
  readonly slots: readonly StreamSlot[];
  /** Elements per tile. */
  readonly tile: number;
  /** Each thread's scratch region (its accumulator is at the start). */
  readonly scratch: readonly { readonly start: number; readonly end: number }[];
  readonly statsBytes: number;
  /** StreamBeginContext.hints: one map for the whole merge. */
  readonly hints: Map<string, JsonValue>;
  /** MergeOptions.onStreamPass. */
  readonly onPass?: (tensor: string, step: string, readAhead: boolean) => void;
  /** Main-thread bytes that may keep a tensor's stored inputs across passes (0: read every pass). */
  readonly cacheBytes: number;
  /**
   * For a tensor that was not read ahead (it reads into the slots, read-ahead.ts): where it keeps
   * inputs (cacheBytes long), and the slot input buffers as one region; onFinalPass names the one
   * it leaves free.
   */
  readonly cacheRegion?: Region;
  readonly slotRegion?: Region;
  /** This tensor's inputs being read (read-ahead.ts), in the span of memory it keeps them in. */
  readonly prefetched?: Prefetch;
  /** Whether `prefetched` started before this tensor began (MergeOptions.onStreamPass's readAhead). */
  readonly readAhead?: boolean;
  /**
   * Called when the final pass starts (no more reads of this tensor) with the region it leaves
   * free for the next tensor's inputs: the executor may start reading them there.
   */
  onFinalPass?(free: Region): void;
  readonly seed: number;
  readonly fixQuirks: boolean;
  warn(m: string): void;
  quirk(id: string, description: string): void;
}

/** Elements per tile of streamed tensor `t` (the method may align it to rows), or undefined. */
export function streamTile(t: PlannedTensor, plan: MergePlan, envTile: number): number | undefined {
  const streamed = plan.method.streamed!;
  const tile = streamed.alignTile ? streamed.alignTile(t.shape, envTile) : envTile;
  return tile > 0 && tile <= envTile ? tile : undefined;
}

/**
 * Merges tensor `t` in passes and writes its output bytes to `w`; undefined when the method
 * declines the tensor (nothing was written: merge it whole).
 */
export async function mergeStreamed(t: PlannedTensor, plan: MergePlan, env: StreamEnv, w: FileWriter, onTile: (bytes: number) => void): Promise<number | undefined> {
  // a read-ahead that this merge does not use is waited for: its region may be needed next
  const unused = async <T>(r: T): Promise<T> => {
    await env.prefetched?.done;
    return r;
  };
  const { k, pool, slots } = env;
  const method = plan.method;
  const streamed = method.streamed!;
  const tile = streamTile(t, plan, env.tile);
  if (tile === undefined) return unused(undefined);
  const numel = numelOf(t.shape);
  const tiles = Math.ceil(numel / tile);
  const modelIndices = t.sources.map((s) => plan.models.indexOf(s.model));
  k.reset();
  // The stored bytes of the inputs the driver reads, kept across passes when they fit the cache
  // budget: a later pass then reads no file (layout: prefetch.ts keptLayout).
  const keeps = (inputs: readonly number[]) => env.cacheBytes > 0 && keptLayout(t, tile, tiles, inputs, 0).bytes <= env.cacheBytes;
  const driver = streamed.begin({
    kernels: k, tensor: t.name, shape: t.shape, numel, dtype: t.workingDtype, mode: DTYPES[t.workingDtype].code,
    inputs: t.sources.map((s) => ({ shape: s.tensor.shape, dtype: s.tensor.dtype as DType, params: s.params, isBase: s.isBase, model: s.model.ref.text })),
    baseIndex: t.baseIndex, global: t.global, isEmbed: t.isEmbed, seed: env.seed, modelIndices, fixQuirks: env.fixQuirks,
    warn: env.warn, quirk: (id, d) => env.quirk(id, d),
    tileElements: tile, tiles, statsBytes: env.statsBytes, keeps, hints: env.hints,
  });
  if (!driver) return unused(undefined);
  const outBytes = DTYPES[t.outDtype].bytes;
  const accs = env.scratch.map((r) => align64(r.start));
  // input -> where its kept tiles are; the region they are in
  let cache: ReadonlyMap<number, KeptInput> | undefined;
  let cacheRegion: Region | undefined;
  const ahead = env.prefetched;
  const usePrefetch = ahead !== undefined && ahead.tensor === t && ahead.tile === tile && ahead.inputs.length === driver.inputs.length
    && driver.inputs.every((j) => ahead.inputs.includes(j)) && keeps(driver.inputs);
  if (ahead && !usePrefetch) await ahead.done;
  if (usePrefetch) {
    cache = ahead.layout.inputs;
    cacheRegion = ahead.region;
  } else if (keeps(driver.inputs)) {
    // in the span read ahead for all inputs when there is one (a subset's layout fits in it)
    const need = keptLayout(t, tile, tiles, driver.inputs, 0).bytes;
    const own = ahead && need <= ahead.region.bytes ? ahead.region : undefined;
    const region = own ?? env.cacheRegion ?? { start: alignUp(k.alloc(need + READ_ALIGN), READ_ALIGN), bytes: need };
    cache = keptLayout(t, tile, tiles, driver.inputs, region.start).inputs;
    cacheRegion = region;
  }
  // the region this tensor leaves free during its final pass: the slots when it keeps its inputs
  // in the cache region, else the cache region (its reads go to the slots)
  const freeRegion = (): Region | undefined => {
    if (!env.cacheRegion || !env.slotRegion) return undefined;
    return cacheRegion === env.cacheRegion ? env.slotRegion : env.cacheRegion;
  };
  const report = (r: TileResult) => {
    for (const m of r.warnings) env.warn(m);
    for (const [id, d] of r.quirks) env.quirk(id, d);
  };

  let passes = 0;
  const runPass = async (pass: StreamPass): Promise<void> => {
    const first = passes === 0;
    const kept = !cache ? undefined : passes++ === 0 ? (pass.final ? undefined : "write") : "read";
    const free = [...slots];
    const inflight: { slot: StreamSlot; done: Promise<void>; bytes: number }[] = [];
    const drainOne = async () => {
      const f = inflight.shift()!;
      await f.done;
      if (pass.final) {
        await w.write(k.bytes(f.slot.out, f.bytes));
        onTile(f.bytes);
      }
      free.push(f.slot);
    };
    let ordered: Promise<void> = Promise.resolve();
    for (let i = 0; i < tiles; i++) {
      if (free.length === 0) await drainOne();
      const slot = free.pop()!;
      const off = i * tile;
      const n = Math.min(tile, numel - off);
      // each input's read as placed: in the slot, or in the input's kept bytes (the same place in
      // every pass: a source's read alignment does not change)
      const placed = t.sources.map((src, j) => {
        const s = src.tensor;
        const c = cache?.get(j);
        if (c) return keptRead(t, j, c, i, off, n);
        return placeRead(slot.inputs[j]!, s.offset + off * DTYPES[s.dtype as DType].bytes, n * DTYPES[s.dtype as DType].bytes, s.source);
      });
      const ptrs = slot.inputs.map((p, j) => placed[j]?.ptr ?? p);
      // a pass after the first over kept inputs reads no file; the first pass over read-ahead
      // inputs waits for them
      const reads = usePrefetch && first ? [ahead.tiles[i]!] : (kept === "read" ? [] : driver.inputs).map((j) => {
        const r = placed[j]!;
        return t.sources[j]!.tensor.source.readInto(r.offset, k.bytes(r.at, r.length));
      });
      const job = (step: StreamStep): TileJob => ({
        method: method.name, tensor: t.name, numel: n, offset: off, dtype: t.workingDtype, outDtype: t.outDtype,
        inputs: t.sources.map((s, j) => ({
          ptr: ptrs[j]!, dtype: s.tensor.dtype as DType, params: s.params, isBase: s.isBase,
          model: s.model.ref.text, modelIndex: modelIndices[j]!,
        })),
        baseIndex: t.baseIndex, global: t.global, isEmbed: t.isEmbed, seed: env.seed, fixQuirks: env.fixQuirks, out: slot.out,
        stream: step,
      });
      const step = (s: "pre" | "main", data: JsonValue, tileData: JsonValue): StreamStep => ({ step: s, tile: i, data, tileData, acc32: pass.acc32, acc64: pass.acc64, ...(kept ? { kept } : {}) });
      const readDone = Promise.all(reads);
      const pre = pass.pre;
      const preDone = pre === undefined ? readDone.then(() => undefined) : readDone.then(() => pool.run(job(step("pre", pre, null)))).then(report);
      const tileData = Promise.all([preDone, ordered]).then(() => driver.tileData?.(i) ?? null);
      ordered = tileData.then(() => undefined);
      ordered.catch(() => {}); // observed through the tiles that wait on it
      const done = tileData.then((td) => pool.run(job(step("main", pass.data, td)))).then(report);
      done.catch(() => {}); // observed by drainOne; avoids an unhandled rejection while queued
      inflight.push({ slot, done, bytes: n * outBytes });
    }
    while (inflight.length) await drainOne();
  };

  try {
    let acc: number | undefined;
    for (;;) {
      const pass = driver.next(acc);
      env.onPass?.(t.name, pass.name ?? (pass.final ? "final" : "pass"), usePrefetch && env.readAhead === true && passes === 0);
      if (pass.final) {
        const free = freeRegion();
        if (free) env.onFinalPass?.(free);
      }
      const bytes = accBytes(pass.acc32, pass.acc64);
      for (const a of accs) k.bytes(a, bytes).fill(0);
      await runPass(pass);
      if (pass.final) break;
      for (const a of accs.slice(1)) k.call("stats_add", accs[0]!, a, pass.acc32, pass.acc64);
      acc = accs[0];
    }
  } catch (e) {
    if (e instanceof AmalgamError) throw e;
    throw new AmalgamError("E_METHOD", `${method.name} failed on tensor "${t.name}" (streamed): ${(e as Error).message}`, { cause: e });
  }
  return numel * outBytes;
}

/** Runs one step of a streamed pass on one tile with `k` (this thread's scratch allocator). */
export function runStreamStep(k: Kernels, job: TileJob, s: StreamStep): TileResult {
  const method = getMethod(job.method);
  if (!method.streamed) throw new AmalgamError("E_METHOD", `${job.method} has no streamed path`);
  k.reset();
  // The accumulator is the first allocation of the region: the executor zeroes and sums it there.
  const acc = k.alloc(accBytes(s.acc32, s.acc64));
  method.streamed.tile({
    kernels: k, tensor: job.tensor, numel: job.numel, tile: s.tile, offset: job.offset, dtype: job.dtype,
    mode: DTYPES[job.dtype].code, inputs: job.inputs.map((i) => ({ ptr: i.ptr, dtype: i.dtype, params: i.params, isBase: i.isBase, model: i.model })),
    baseIndex: job.baseIndex, global: job.global, seed: job.seed, modelIndices: job.inputs.map((i) => i.modelIndex),
    fixQuirks: job.fixQuirks, step: s.step, data: s.data, tileData: s.tileData, acc, out: job.out, outDtype: job.outDtype,
    ...(s.kept ? { kept: s.kept } : {}),
  });
  return { warnings: [], quirks: [] };
}
