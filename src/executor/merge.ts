// The merge: plan, then for every output shard stream its header and its tensors, one tensor at
// a time (inputs read by byte range, merged by the method's kernels, encoded, written), then the
// index, config, tokenizer and card. Nothing is final until the sink commits.
import { parseMergeConfig } from "../config/parse-config.ts";
import type { MergeConfig } from "../config/types.ts";
import { DTYPES } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { Kernels } from "../kernels/kernels.ts";
import type { OutputSink, ResolveModel } from "../io/storage.ts";
import { writeWhole } from "../io/storage.ts";
import { shardIndexJson, writeModelFiles } from "../output/model-files.ts";
import { assignShards, partManifest, partManifestName } from "./parts.ts";
import { buildPlan } from "../plan/build-plan.ts";
import type { MergePlan, PlannedTensor } from "../plan/types.ts";
import type { JsonValue, MergeInput } from "../methods/types.ts";
import { loadInput } from "./load-input.ts";
import type { TileJob } from "./tile-job.ts";
import { InlineTilePool } from "./tile-pool.ts";
import { mergeStreamed, planStreaming, streamTile } from "./streamed.ts";
import type { StreamSlot } from "./streamed.ts";
import { keptLayout } from "./prefetch.ts";
import { ReadAhead } from "./read-ahead.ts";
import type { AheadKind } from "./read-ahead.ts";
import type { Region } from "./prefetch.ts";
import { READ_ALIGN, alignUp, placeRead } from "./read-placement.ts";
import { layOutSlots, scratchRegionBytes } from "./slot-layout.ts";
import type { TilePool, TilePoolFactory } from "./tile-pool.ts";
import type { FileWriter, OutputStore } from "../io/storage.ts";
import { GpuMerger } from "../gpu/gpu-merge.ts";
import type { DeviceChoice, GpuMergeStats } from "../gpu/gpu-merge.ts";
import type { GpuLike } from "../gpu/webgpu-types.ts";
import { PROGRESS_FILE, hashSource, parseProgress, resumeKey, serializeProgress } from "../output/manifest.ts";
import { BlockWriter } from "../output/block-writer.ts";
import type { FinishedFile, ProgressRecord } from "../output/manifest.ts";
import { checkOutputEntries, checkOutputOutsideInputs } from "../output/output-dir.ts";

export interface MergeProgress {
  readonly tensorsDone: number;
  readonly tensorsTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly tensor: string;
}

export interface MergeOptions {
  readonly resolveModel: ResolveModel;
  readonly sink: OutputSink;
  /** The compiled kernel module (single-threaded SIMD build), or ready kernels. */
  readonly kernels: WebAssembly.Module | Kernels;
  /** Name shown in the model card's title (MergeKit uses the output directory's name). */
  readonly outputName?: string;
  readonly outShardSize?: number;
  readonly copyTokenizer?: boolean;
  readonly writeModelCard?: boolean;
  readonly randomSeed?: number;
  /** Apply the documented fixes of MergeKit's quirks instead of reproducing them (docs/compat.md). */
  readonly fixQuirks?: boolean;
  /** Merge models whose architectures differ (MergeKit's --allow-crimes); the donor's layout is used. */
  readonly allowCrimes?: boolean;
  readonly onProgress?: (p: MergeProgress) => void;
  readonly onWarning?: (message: string) => void;
  readonly signal?: AbortSignal;
  /**
   * Worker threads for elementwise methods (the host's, e.g. runtimes/node/thread-pool.ts); needs
   * the threads build of the kernels. Without it tiles run on the calling thread.
   */
  readonly threadPool?: TilePoolFactory;
  /** Elements per tile of an elementwise merge (default: derived from `memoryBudget`). */
  readonly tileElements?: number;
  /**
   * Bytes of tile buffers in flight (input and output slots plus per-thread scratch), default
   * 256 MB. Tensors of non-elementwise methods are held whole on top of this, except that methods
   * with a streamed path (MethodDef.streamed) give the slots half and stream every tensor whose
   * whole working set exceeds the other half or that is large (streamed.ts), or every tensor when
   * `tileElements` is given.
   */
  readonly memoryBudget?: number;
  /** Worker threads to start when `threadPool` is given (default 1). */
  readonly threadCount?: number;
  /**
   * Compute only the output shards assigned to part `index` of `count` (1-based) and write a part
   * manifest instead of the index/config/card; `assembleOutput` finishes once all parts exist.
   */
  readonly part?: { readonly index: number; readonly count: number };
  /**
   * Write into an output directory that already holds other files (files of the same names are
   * replaced at the commit). Without it a non-empty directory is refused (sinks with a `store`).
   */
  readonly overwrite?: boolean;
  /**
   * Resume an unfinished run of the same merge into the same directory (default true): shards it
   * finished are verified against their recorded hashes and kept. False starts over.
   */
  readonly resume?: boolean;
  /** Called with the shard files kept from an earlier run, before merging the rest. */
  readonly onResume?: (kept: readonly string[], total: number) => void;
  /**
   * Called before each pass of a streamed tensor with the method's name for the pass (for the gta
   * family: sample, band, hist, lo, l1, final): which route a tensor took, for tests and profiles.
   * `readAhead`: the pass takes inputs whose reads started before the tensor began (read-ahead.ts).
   */
  readonly onStreamPass?: (tensor: string, step: string, readAhead: boolean) => void;
  /** Plan already built (e.g. by a dry run); otherwise built here. */
  readonly plan?: MergePlan;
  /**
   * false: write only the weights (and the shard index when sharded), no config.json, tokenizer or
   * card — mergekit-pytorch's output. Default true.
   */
  readonly modelFiles?: boolean;
  /**
   * Where tensors of methods with a GPU version are merged (docs/gpu.md): "cpu" (default), "gpu"
   * (WebGPU; an error without an adapter), or "auto" (a real GPU adapter, large tensors only).
   * Either way the output bytes are the same.
   */
  readonly device?: DeviceChoice;
  /** WebGPU entry point for the GPU path (default: navigator.gpu). */
  readonly gpu?: GpuLike;
  /** Elements per GPU chunk (default: a 128 MiB binding); for tests. */
  readonly gpuChunkElements?: number;
}

export interface MergeResult {
  readonly plan: MergePlan;
  readonly files: readonly string[];
  /** Highest wasm memory in use, in bytes (the tensors in flight). */
  readonly peakKernelBytes: number;
  /** Threads that ran tiles. */
  readonly threads: number;
  /** The GPU path's adapter and tensor counts, when it was used. */
  readonly gpu?: GpuMergeStats;
  /** Shard files kept from an earlier, unfinished run (verified), not merged again. */
  readonly resumed: readonly string[];
}

export const DEFAULT_MEMORY_BUDGET = 256_000_000;

/**
 * Reads in flight for a read-ahead (prefetch.ts): as many as libuv's default I/O threads. Cold ties
 * on the bench (9 alternating runs): median 10.5 s with 2, 10.4 s with 3, 10.0 s with 4; warm alike.
 */
const PREFETCH_READS = 4;
/** Tiles smaller than this make per-tile overhead (a job, a read per input) show. */
export const MIN_TILE_ELEMENTS = 1 << 16;
/** Output blocks (16 MiB) held for write-behind: an eighth of the memory budget, 2 to 4. */
export function writeBehindBlocks(budget: number): number {
  return Math.max(2, Math.min(4, Math.floor(budget / 8 / (16 * 1024 * 1024))));
}
/** Tiles larger than this stop paying off: the reads of the next tile overlap less. */
export const MAX_TILE_ELEMENTS = 1 << 24;

/**
 * Slots and tile size of a tiled merge: a tile computing on each of `threads` threads, one being
 * read ahead and two being written (write-behind); fewer slots left the workers waiting for a
 * free one. A budget too small for tiles of MIN_TILE_ELEMENTS that way keeps one spare slot.
 * Each slot holds `inputs` input tiles and an output tile as float32.
 */
export function tileLayout(slotBudget: number, threads: number, inputs: number, largest: number, forcedTile?: number): { slotCount: number; tile: number } {
  const perSlotElement = (inputs + 1) * 4;
  const slotCount = slotBudget / ((threads + 3) * perSlotElement) >= MIN_TILE_ELEMENTS ? threads + 3 : threads + 1;
  const budgeted = Math.min(MAX_TILE_ELEMENTS, Math.max(MIN_TILE_ELEMENTS, Math.floor(slotBudget / (slotCount * perSlotElement))));
  const tile = Math.max(64, Math.floor(Math.min(forcedTile ?? budgeted, largest + 63) / 64) * 64);
  return { slotCount, tile };
}

/** Whether a planned tensor can be merged tile by tile (elementwise method, no cropping). */
export function tileable(plan: MergePlan, t: PlannedTensor): boolean {
  return plan.method.elementwise === true && t.sources.every((s) => s.tensor.shape.length === t.shape.length && s.tensor.shape.every((d, i) => d === t.shape[i]));
}


/** Streams one tileable tensor: reads of tile i+1 overlap the merge of tile i; writes stay in order. */
async function mergeTiled(
  t: PlannedTensor, plan: MergePlan, run: TensorRun, pool: TilePool, slots: readonly StreamSlot[], tile: number,
  k: Kernels, w: FileWriter, onTile: (bytes: number) => void,
): Promise<number> {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const outBytes = DTYPES[t.outDtype].bytes;
  const free = [...slots];
  const inflight: { slot: StreamSlot; done: Promise<void>; bytes: number }[] = [];
  const drainOne = async () => {
    const f = inflight.shift()!;
    await f.done;
    await w.write(k.bytes(f.slot.out, f.bytes));
    onTile(f.bytes);
    free.push(f.slot);
  };
  for (let off = 0; off < numel; off += tile) {
    if (free.length === 0) await drainOne();
    const slot = free.pop()!;
    const n = Math.min(tile, numel - off);
    const placed = t.sources.map((s, i) => {
      const b = DTYPES[s.tensor.dtype as keyof typeof DTYPES].bytes;
      return placeRead(slot.inputs[i]!, s.tensor.offset + off * b, n * b, s.tensor.source);
    });
    const reads = t.sources.map((s, i) => s.tensor.source.readInto(placed[i]!.offset, k.bytes(placed[i]!.at, placed[i]!.length)));
    const job: TileJob = {
      method: plan.method.name, tensor: t.name, numel: n, offset: off, dtype: t.workingDtype, outDtype: t.outDtype,
      inputs: t.sources.map((s, i) => ({
        ptr: placed[i]!.ptr, dtype: s.tensor.dtype as TileJob["dtype"], params: s.params, isBase: s.isBase,
        model: s.model.ref.text, modelIndex: plan.models.indexOf(s.model),
      })),
      baseIndex: t.baseIndex, global: t.global, isEmbed: t.isEmbed, seed: run.seed, fixQuirks: run.fixQuirks, out: slot.out,
    };
    const done = Promise.all(reads).then(() => pool.run(job)).then((r) => {
      for (const m of r.warnings) run.warn(m);
      for (const [id, d] of r.quirks) run.quirk(id, d, t.name);
    });
    done.catch(() => {}); // observed by drainOne; avoids an unhandled rejection while queued
    inflight.push({ slot, done, bytes: n * outBytes });
  }
  while (inflight.length) await drainOne();
  return numel * outBytes;
}

function inputsOf(t: PlannedTensor): string {
  return t.sources.map((s) => s.model.ref.text).join(", ");
}

/** What one tensor's merge reports to (warnings and quirks, deduplicated by the caller). */
export interface TensorRun {
  readonly seed: number;
  readonly fixQuirks: boolean;
  warn(m: string): void;
  quirk(id: string, description: string, tensor: string): void;
}

/**
 * Merges one planned tensor whole (no tiles) into fresh kernel memory after `k.reset()`; the result
 * is the tensor's stored bytes in its output dtype, the same bytes the tiled path writes.
 */
export async function mergeTensor(k: Kernels, plan: MergePlan, t: PlannedTensor, run: TensorRun): Promise<{ ptr: number; bytes: number }> {
  k.reset();
  const inputs: MergeInput[] = [];
  for (const s of t.sources) {
    const { buf, shape } = await loadInput(k, s.tensor, t.workingDtype, t.shape, t.isEmbed);
    inputs.push({ buf, shape, sourceShape: s.tensor.shape, params: s.params, isBase: s.isBase, model: s.model.ref.text });
  }
  const numel = t.shape.reduce((a, b) => a * b, 1);
  let out;
  try {
    out = plan.method.merge({
      kernels: k, tensor: t.name, shape: t.shape, numel, dtype: t.workingDtype, mode: DTYPES[t.workingDtype].code,
      inputs, baseIndex: t.baseIndex, global: t.global, isEmbed: t.isEmbed, seed: run.seed,
      modelIndices: t.sources.map((s) => plan.models.indexOf(s.model)), fixQuirks: run.fixQuirks,
      warn: run.warn, quirk: (id, description) => run.quirk(id, description, t.name),
    });
  } catch (e) {
    if (e instanceof AmalgamError) throw e;
    throw new AmalgamError("E_METHOD", `${plan.method.name} failed on tensor "${t.name}" (inputs ${inputsOf(t)}): ${(e as Error).message}`, { cause: e });
  }
  if (out.length !== numel) throw new AmalgamError("E_METHOD", `${plan.method.name} returned ${out.length} values for tensor "${t.name}", expected ${numel}`);
  const bytes = numel * DTYPES[t.outDtype].bytes;
  const dst = k.alloc(bytes);
  k.call("encode", dst, out.ptr, DTYPES[t.outDtype].code, numel);
  return { ptr: dst, bytes };
}

/**
 * Runs a whole merge into `options.sink`; on any failure (planning included) the sink is aborted.
 * A resumable sink keeps the shards finished so far (hashed, listed in its progress record).
 */
export async function merge(config: MergeConfig | string, options: MergeOptions): Promise<MergeResult> {
  const state: RunState = { finished: 0 };
  try {
    return await mergeInto(config, options, state);
  } catch (e) {
    await options.sink.abort().catch(() => {});
    if (state.finished > 0 && options.sink.store) {
      options.onWarning?.(`${state.finished} finished shard(s) are kept in ${options.sink.store.stagingPath}: running the same merge into the same directory resumes from them (--no-resume starts over)`);
    }
    throw e;
  }
}

interface RunState {
  /** Shards recorded as finished in the sink's progress record. */
  finished: number;
}

/**
 * The checks of a resumable sink's directory before anything is written: not inside an input,
 * not holding foreign files (without --overwrite), and an earlier run of the same merge to resume.
 */
async function openProgress(plan: MergePlan, options: MergeOptions, mine: readonly string[], warn: (m: string) => void): Promise<{ progress: Progress; kept: string[] } | undefined> {
  const sink = options.sink;
  const store = sink.store;
  checkOutputOutsideInputs(sink.localPath, plan.models);
  if (!store) return undefined;
  const key = await resumeKey(plan, options);
  const raw = await store.readProgress();
  let prev: ProgressRecord | undefined;
  if (raw) {
    try {
      prev = parseProgress(raw, `${store.stagingPath}/${PROGRESS_FILE}`);
    } catch (e) {
      if (!(e instanceof AmalgamError)) throw e;
      warn(`${e.message}; starting over`);
    }
  }
  const where = sink.localPath ?? "the output directory";
  const own = new Set(prev && prev.key === key ? [...prev.files.keys(), ...(prev.committing ?? [])] : []);
  if (raw && prev?.key !== key) {
    if (!options.overwrite) {
      throw new AmalgamError("E_OUTPUT_EXISTS", `${where} holds an unfinished merge of another config, options or inputs (${store.stagingPath}); pass --overwrite to discard it, or choose another directory`);
    }
    await store.discard();
    prev = undefined;
  } else if (prev && options.resume === false) {
    await store.discard();
    prev = undefined;
  }
  // Files a run of this merge killed during its commit had already moved into place are its own.
  const existing = (await store.existing()).filter((n) => !own.has(n));
  const leftovers = checkOutputEntries(existing, { where, overwrite: options.overwrite ?? false, part: options.part, shardFiles: plan.shards.map((s) => s.file) });
  if (leftovers.length) warn(`--overwrite leaves ${leftovers.join(", ")} in ${where} (not part of this merge)`);
  const progress = new Progress(key, store);
  const kept: string[] = [];
  for (const name of mine) {
    const e = prev?.files.get(name);
    if (!e) continue;
    const src = await store.openFinished(name);
    if (!src || src.size !== e.bytes || (await hashSource(src)) !== e.hash) continue; // changed or gone: merged again
    store.keep(name);
    progress.files.set(name, e);
    kept.push(name);
  }
  return { progress, kept };
}

/** The finished shards of this run (and kept ones of an earlier run), written after each shard. */
class Progress {
  readonly files = new Map<string, FinishedFile>();
  constructor(readonly key: string, private readonly store: OutputStore) {}
  async add(name: string, f: FinishedFile): Promise<void> {
    this.files.set(name, f);
    await this.store.writeProgress(serializeProgress({ key: this.key, files: this.files }), [...this.files.keys()]);
  }
  /** Records every output file before the commit moves them (see ProgressRecord.committing). */
  async committing(all: readonly string[]): Promise<void> {
    await this.store.writeProgress(serializeProgress({ key: this.key, files: this.files, committing: all }), [...this.files.keys()]);
  }
}

async function mergeInto(config: MergeConfig | string, options: MergeOptions, state: RunState): Promise<MergeResult> {
  const cfg = typeof config === "string" ? parseMergeConfig(config) : config;
  const warn = options.onWarning ?? (() => {});
  const plan = options.plan ?? (await buildPlan(cfg, {
    resolveModel: options.resolveModel, outShardSize: options.outShardSize, fixQuirks: options.fixQuirks, allowCrimes: options.allowCrimes,
    kernelModule: options.kernels instanceof WebAssembly.Module ? options.kernels : undefined,
  }));
  // The plan's model files are open from here on: closed however the merge ends, also when it
  // stops before writing anything (an output directory refused, bad --shard, no GPU).
  try {
    return await mergePlanned(plan, options, state, warn);
  } finally {
    for (const m of plan.models) await m.files.dir.close?.().catch(() => {});
  }
}

async function mergePlanned(plan: MergePlan, options: MergeOptions, state: RunState, warn: (m: string) => void): Promise<MergeResult> {
  for (const w of plan.warnings) warn(w);
  const k = options.kernels instanceof Kernels ? options.kernels : await Kernels.instantiate(options.kernels);
  const sink = options.sink;
  const part = options.part;
  if (part && (!Number.isInteger(part.index) || !Number.isInteger(part.count) || part.index < 1 || part.index > part.count)) {
    throw new AmalgamError("E_ARGS", `--shard ${part.index}/${part.count}: expected I/N with 1 <= I <= N`);
  }
  const mine = part ? new Set(assignShards(plan, part.count)[part.index - 1]) : undefined;
  const myShards = plan.shards.filter((s) => !mine || mine.has(s.file));
  const opened = await openProgress(plan, options, myShards.map((s) => s.file), warn);
  const progress = opened?.progress;
  const resumed = new Set(opened?.kept ?? []);
  state.finished = resumed.size;
  if (resumed.size) options.onResume?.([...resumed], myShards.length);
  // Fixed regions for tiled merges: input/output slots, then one scratch region per thread.
  const budget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const streaming = planStreaming(plan, budget, options.tileElements);
  const tiled = plan.tensors.filter((t) => tileable(plan, t) || streaming.tensors.has(t));
  const largest = Math.max(0, ...tiled.map((t) => t.shape.reduce((a, b) => a * b, 1)));
  const maxK = Math.max(1, ...tiled.map((t) => t.sources.length));
  const factory = options.threadPool && !(options.kernels instanceof Kernels) ? options.threadPool : undefined;
  const scratchCount = factory ? Math.max(1, options.threadCount ?? 1) : 1;
  const { slotCount, tile } = tileLayout(streaming.slotBudget, scratchCount, maxK, largest, options.tileElements);
  let pool: TilePool | undefined;
  const slots: StreamSlot[] = [];
  let slotRegion: Region | undefined;
  let cacheRegion: Region | undefined;
  const scratch: { start: number; end: number }[] = [];
  if (tiled.length) {
    const layout = layOutSlots(k.heapStart, slotCount, maxK, tile);
    slots.push(...layout.slots);
    slotRegion = layout.inputRegion;
    let at = layout.end;
    const scratchBytes = scratchRegionBytes(maxK, tile, streaming.accBytes);
    // With worker threads (shared memory, which does not move when the heap grows while reads are
    // in flight), streamed tensors keep their inputs in a fixed region, and later ones' are read
    // ahead into it and the slot input buffers.
    if (factory && streaming.cacheBytes > 0 && streaming.tensors.size > 0) {
      cacheRegion = { start: at, bytes: alignUp(streaming.cacheBytes, READ_ALIGN) };
      at += cacheRegion.bytes;
    }
    for (let i = 0; i < scratchCount; i++) { scratch.push({ start: at, end: at + scratchBytes }); at += scratchBytes; }
    k.ensure(at);
    k.setHeapStart(at);
    pool = factory
      ? await factory({ module: options.kernels as WebAssembly.Module, memory: k.memory, scratch })
      : InlineTilePool.create(k, scratch[0]!);
  }
  const files: string[] = [];
  const seed = options.randomSeed ?? 0;
  const seenWarnings = new Set<string>();
  const hints = new Map<string, JsonValue>();
  const quirks = new Map<string, { description: string; tensors: string[] }>();
  const run: TensorRun = {
    seed,
    fixQuirks: options.fixQuirks ?? false,
    warn: (m) => { if (!seenWarnings.has(m)) { seenWarnings.add(m); warn(m); } },
    quirk: (id, description, tensor) => {
      let q = quirks.get(id);
      if (!q) quirks.set(id, (q = { description, tensors: [] }));
      if (!q.tensors.includes(tensor)) q.tensors.push(tensor);
    },
  };
  const gpu = await GpuMerger.open({ device: options.device ?? "cpu", gpu: options.gpu, chunkElements: options.gpuChunkElements }).catch(async (e: unknown) => {
    await pool?.close();
    throw e;
  });
  // The shard being closed while the next one merges (see below).
  let closing: Promise<void> = Promise.resolve();
  // Upcoming streamed tensors' inputs read ahead into the slot and cache regions (read-ahead.ts),
  // in this run's order across shards.
  const aheadKind = (u: PlannedTensor): AheadKind => {
    if (tileable(plan, u)) return { kind: "slots" };
    if (!streaming.tensors.has(u)) return { kind: "skip" }; // merged whole, in the heap
    const tileU = streamTile(u, plan, tile);
    const numel = u.shape.reduce((a, b) => a * b, 1);
    if (tileU === undefined || numel === 0) return { kind: "skip" }; // declined by mergeStreamed
    const inputs = u.sources.map((_, j) => j);
    const bytes = keptLayout(u, tileU, Math.ceil(numel / tileU), inputs, 0).bytes;
    return bytes > streaming.cacheBytes ? { kind: "slots" } : { kind: "kept", tile: tileU, inputs, bytes };
  };
  // The shards this run writes (not kept from an earlier one), in order.
  const toWrite = myShards.filter((s) => !resumed.has(s.file));
  const readAhead = cacheRegion && slotRegion && !gpu
    ? new ReadAhead(k, [slotRegion, cacheRegion], toWrite.flatMap((s) => s.tensors), aheadKind, PREFETCH_READS)
    : undefined;
  // The last shard this run writes is not hashed. Its hash would serve only a resume after a crash
  // between its close and the commit (a few small files later); such a resume merges it again.
  // XXH3 on the main thread cost 0.35 s of a 3.0 s warm linear merge on the bench (one 2.2 GB shard).
  const lastShard = toWrite.at(-1);
  try {
    let done = 0;
    let bytesDone = 0;
    for (const shard of myShards) {
      if (resumed.has(shard.file)) {
        done += shard.tensors.length;
        bytesDone += shard.layout.sizes.reduce((a, b) => a + b, 0);
        files.push(shard.file);
        options.onProgress?.({ tensorsDone: done, tensorsTotal: plan.tensors.length, bytesDone, bytesTotal: plan.totalBytes, tensor: shard.tensors[shard.tensors.length - 1]?.name ?? "" });
        continue;
      }
      const raw = await sink.create(shard.file);
      // Write-behind: the next tiles merge while earlier blocks are hashed and written.
      const hashed = progress !== undefined && shard !== lastShard;
      const w = new BlockWriter(raw, { hash: hashed, maxBlocks: writeBehindBlocks(budget) });
      await w.write(shard.layout.header);
      for (let i = 0; i < shard.tensors.length; i++) {
        if (options.signal?.aborted) throw new AmalgamError("E_ABORTED", "merge aborted");
        const t = shard.tensors[i]!;
        let bytes: number | undefined;
        const ahead = readAhead?.begin(t);
        const gpuBytes = gpu ? await gpu.mergeTensor(plan, t, run, shard.tensors[i + 1]) : undefined;
        if (gpuBytes) {
          bytes = gpuBytes.length;
          if (bytes === shard.layout.sizes[i]) await w.write(gpuBytes);
          bytesDone += bytes;
        } else if (pool && tileable(plan, t)) {
          bytes = await mergeTiled(t, plan, run, pool, slots, tile, k, w, (b) => { bytesDone += b; });
        } else if (pool && streaming.tensors.has(t)) {
          // a tensor read ahead keeps its inputs in its own span; one using the slots may keep
          // them in the cache region, and frees one of the two for the read-ahead at its final pass
          bytes = await mergeStreamed(t, plan, {
            k, pool, slots, tile, scratch, statsBytes: streaming.statsBytes, hints, onPass: options.onStreamPass, cacheBytes: streaming.cacheBytes,
            ...(ahead?.prefetched ? { prefetched: ahead.prefetched, readAhead: ahead.early } : {}),
            ...(readAhead && !ahead?.prefetched ? { cacheRegion, slotRegion, onFinalPass: (free: Region) => readAhead.finalPass(t, free) } : {}),
            seed, fixQuirks: run.fixQuirks, warn: run.warn, quirk: (id, d) => run.quirk(id, d, t.name),
          }, w, (b) => { bytesDone += b; });
        }
        if (bytes === undefined) {
          const r = await mergeTensor(k, plan, t, run);
          bytes = r.bytes;
          if (bytes === shard.layout.sizes[i]) await w.write(k.bytes(r.ptr, bytes));
          bytesDone += bytes;
        }
        await readAhead?.end(t);
        if (bytes !== shard.layout.sizes[i]) throw new AmalgamError("E_OUTPUT", `tensor "${t.name}": ${bytes} bytes, layout expected ${shard.layout.sizes[i]}`);
        done++;
        options.onProgress?.({ tensorsDone: done, tensorsTotal: plan.tensors.length, bytesDone, bytesTotal: plan.totalBytes, tensor: t.name });
      }
      files.push(shard.file);
      // The shard's last blocks, its fsync and rename, then its progress entry, run while the next
      // shard merges: at most one shard is closing at a time, and closes stay in order.
      await closing;
      closing = (async () => {
        await w.close();
        if (progress && hashed) {
          await progress.add(shard.file, await w.finished());
          state.finished = progress.files.size;
        }
      })();
      closing.catch(() => {}); // observed by the next await of `closing`
    }
    await closing;
    if (part) {
      await writeWhole(sink, partManifestName(part), partManifest(plan, part, files, {
        outShardSize: options.outShardSize, copyTokenizer: options.copyTokenizer ?? true,
        writeModelCard: options.writeModelCard ?? true, outputName: options.outputName, fixQuirks: options.fixQuirks ?? false,
        allowCrimes: options.allowCrimes ?? false,
      }));
      files.push(partManifestName(part));
    } else if (options.modelFiles === false) {
      if (plan.shards.length > 1) {
        await writeWhole(sink, "model.safetensors.index.json", shardIndexJson(plan));
        files.push("model.safetensors.index.json");
      }
    } else {
      files.push(...(await writeModelFiles(plan, sink, options)));
    }
    for (const [id, q] of quirks) {
      const list = q.tensors.length > 6 ? `${q.tensors.slice(0, 6).join(", ")} and ${q.tensors.length - 6} more` : q.tensors.join(", ");
      warn(`${q.description} [quirk ${id}; ${q.tensors.length} tensor(s): ${list}]${run.fixQuirks ? "" : " (--fix-quirks applies the fix)"}`);
    }
    await progress?.committing(files);
    await sink.commit();
  } finally {
    // A failed merge waits for the shard it was closing and for the reads it started before the
    // sink is aborted.
    await closing.catch(() => {});
    await readAhead?.settle();
    gpu?.close();
    await pool?.close();
  }
  return { plan, files, peakKernelBytes: Math.max(k.peakBytes, k.memory.buffer.byteLength), threads: pool?.threads ?? 1, gpu: gpu?.stats, resumed: [...resumed] };
}
