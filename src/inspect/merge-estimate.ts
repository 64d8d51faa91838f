// How long a merge will take and how much memory it needs on this machine, before running it:
// the kernel memory follows the executor's allocations (src/executor/merge.ts, load-input.ts) from
// the plan; the time comes from timing the method's kernels on a synthetic tile and reading a
// sample of the real input bytes.
import { READ_ALIGN, alignUp } from "../executor/read-placement.ts";
import { DTYPES } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { DEFAULT_MEMORY_BUDGET, tileable, tileLayout, writeBehindBlocks } from "../executor/merge.ts";
import { planStreaming } from "../executor/streamed.ts";
import { layOutSlots, scratchRegionBytes } from "../executor/slot-layout.ts";
import { HASH_BLOCK_BYTES } from "../output/manifest.ts";
import { timeStreamed } from "./time-streamed.ts";
import { CHUNK_ELEMENTS, runTileJob } from "../executor/tile-job.ts";
import type { TileJob } from "../executor/tile-job.ts";
import type { Kernels } from "../kernels/kernels.ts";
import type { MergePlan, PlannedTensor } from "../plan/types.ts";
import type { OutputSink } from "../io/storage.ts";

const PAGE = 65536;
const ALIGN = 64;
/** Memory of the runtime itself beside the kernels: a Node process with the CLI loaded (~60 MB RSS). */
export const RUNTIME_BASE_BYTES = 64_000_000;
/** Each worker thread's own JavaScript heap and instance (~10 MB in Node). */
export const WORKER_BYTES = 12_000_000;
/** Elements of the synthetic tile timed for the merge rate (large enough to leave the L2 cache). */
export const TIMING_ELEMENTS = 1 << 20;
/** Bytes of real input read to time the storage (or network). */
export const DEFAULT_SAMPLE_BYTES = 32_000_000;

export interface MemoryOptions {
  /** Threads that run tiles (merge's --threads when the runtime has workers, else 1). */
  readonly threads: number;
  readonly workers: boolean;
  readonly memoryBudget?: number;
  /** First free byte of a fresh kernel instance (Kernels.heapStart) and its initial memory size. */
  readonly heapStart: number;
  readonly initialBytes: number;
}

export interface MemoryEstimate {
  /** Peak wasm memory of the merge (what merge reports as kernel memory). */
  readonly kernelBytes: number;
  /**
   * Peak memory of the process: kernelBytes less the slot bytes narrower dtypes never touch, plus
   * the runtime, its worker threads and the output blocks written behind.
   */
  readonly processBytes: number;
  /** Elements per tile of the tiled (elementwise) and streamed tensors, 0 when none is. */
  readonly tileElements: number;
  readonly tiledTensors: number;
  /** Tensors merged in passes over tiles (src/executor/streamed.ts). */
  readonly streamedTensors: number;
  /** Tensors merged whole (non-elementwise methods, cropped embeddings), and the largest one's working set. */
  readonly wholeTensors: number;
  readonly largestWholeBytes: number;
  /**
   * False where the method's own temporaries are not known (not linear or passthrough): a lower
   * bound for tensors merged whole; streamed tensors are counted with the statistics their method
   * may hold (a sixteenth of the budget), which bounds them.
   */
  readonly exact: boolean;
}

const align = (x: number) => Math.ceil(x / ALIGN) * ALIGN;
const numelOf = (t: PlannedTensor) => t.shape.reduce((a, b) => a * b, 1);

/** Working set of a tensor merged whole, above `base` (mergeTensor: inputs, then output and encoded copy). */
function wholeTensorEnd(t: PlannedTensor, base: number): number {
  const n = numelOf(t);
  let top = align(base);
  let peak = top;
  for (const s of t.sources) {
    const inN = s.tensor.byteLength / DTYPES[s.tensor.dtype as DType].bytes;
    const raw = align(top) + s.tensor.byteLength;
    peak = Math.max(peak, align(raw) + inN * 4);
    top = align(top) + n * 4;
  }
  // the method's output, its pointer and weight arrays (linear), then the encoded output
  top = align(top) + n * 4;
  top = align(top) + t.sources.length * 4;
  top = align(top) + t.sources.length * 4;
  top = align(top) + n * DTYPES[t.outDtype].bytes;
  return Math.max(peak, top);
}

/**
 * The executor's layout (src/executor/merge.ts mergePlanned): slots, the cache region for kept
 * inputs with worker threads, scratch per thread, then the heap, where tensors merged whole and a
 * streamed tensor's statistics (and, on one thread, its kept inputs) live.
 */
export function estimateMemory(plan: MergePlan, o: MemoryOptions): MemoryEstimate {
  const budget = o.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const streaming = planStreaming(plan, budget, undefined);
  const tiled = plan.tensors.filter((t) => tileable(plan, t) || streaming.tensors.has(t));
  const whole = plan.tensors.filter((t) => !tileable(plan, t) && !streaming.tensors.has(t));
  const scratchCount = o.workers ? Math.max(1, o.threads) : 1;
  let at = o.heapStart;
  let tile = 0;
  if (tiled.length) {
    const largest = Math.max(...tiled.map(numelOf));
    const maxK = Math.max(1, ...tiled.map((t) => t.sources.length));
    const layout = tileLayout(streaming.slotBudget, scratchCount, maxK, largest);
    const slotCount = layout.slotCount;
    tile = layout.tile;
    at = layOutSlots(at, slotCount, maxK, tile).end;
    if (o.workers && streaming.cacheBytes > 0 && streaming.tensors.size > 0) at += alignUp(streaming.cacheBytes, READ_ALIGN);
    at = align(at + scratchCount * scratchRegionBytes(maxK, tile, streaming.accBytes));
  }
  let end = at;
  let largestWhole = 0;
  for (const t of whole) {
    const e = wholeTensorEnd(t, at);
    largestWhole = Math.max(largestWhole, e - at);
    end = Math.max(end, e);
  }
  // a streamed tensor: its statistics, and on one thread its kept inputs (aligned, in the heap)
  if (streaming.tensors.size) end = Math.max(end, at + streaming.statsBytes + (o.workers ? 0 : streaming.cacheBytes + 2 * READ_ALIGN));
  const pages = Math.max(o.initialBytes, Math.ceil(end / PAGE) * PAGE);
  const kernelBytes = Math.max(end, pages);
  // pages never written take no memory: float32-sized slots hold narrower stored inputs and
  // outputs (unless the read-ahead fills the input slots with kept inputs: cache region in use)
  let untouched = 0;
  if (tile) {
    const maxK = Math.max(1, ...tiled.map((t) => t.sources.length));
    const slotCount = tileLayout(streaming.slotBudget, scratchCount, maxK, Math.max(...tiled.map(numelOf))).slotCount;
    const inWidth = Math.max(...tiled.flatMap((t) => t.sources.map((s) => DTYPES[s.tensor.dtype as DType].bytes)));
    const outWidth = Math.max(...tiled.map((t) => DTYPES[t.outDtype].bytes));
    const readAhead = o.workers && streaming.cacheBytes > 0 && streaming.tensors.size > 0;
    if (!readAhead) untouched += slotCount * maxK * tile * (4 - inWidth);
    untouched += slotCount * tile * (4 - outWidth);
  }
  const known = plan.method.name === "linear" || plan.method.name === "passthrough";
  return {
    kernelBytes,
    processBytes: kernelBytes - untouched + RUNTIME_BASE_BYTES + (o.workers ? o.threads * WORKER_BYTES : 0) + writeBehindBlocks(budget) * HASH_BLOCK_BYTES,
    tileElements: tile,
    tiledTensors: tiled.length - streaming.tensors.size,
    streamedTensors: streaming.tensors.size,
    wholeTensors: whole.length,
    largestWholeBytes: largestWhole,
    exact: known || whole.length === 0,
  };
}

export interface TimeEstimate {
  /**
   * Total, and its parts. Tiled and streamed tensors overlap I/O with merging: the total is the
   * larger of reading plus writing (one disk) and their merging, plus the merging of the tensors
   * merged whole (read first, then merged). A streamed method is timed by merging a synthetic
   * tensor through its streamed path (time-streamed.ts).
   */
  readonly seconds: number;
  readonly readSeconds: number;
  readonly mergeSeconds: number;
  /** Null when no write rate was measured (no output directory given): writing is then not counted. */
  readonly writeSeconds: number | null;
  readonly writeRate: number | null;
  /** Input bytes the merge reads, and the read rate measured on a sample of them (bytes/s). */
  readonly readBytes: number;
  readonly readRate: number;
  readonly sampledBytes: number;
  /** Output elements merged per second per thread (times inputs + 1), measured on a synthetic tile. */
  readonly mergeRate: number;
  /** Whether the method's own kernels were timed (false: only decode and encode were). */
  readonly methodTimed: boolean;
  readonly threads: number;
  /** Bytes of output written. */
  readonly writeBytes: number;
}

export interface TimeOptions {
  readonly kernels: Kernels;
  readonly threads: number;
  readonly workers: boolean;
  readonly now: () => number;
  readonly sampleBytes?: number;
  /** Measured write rate of the output location (bytes/s), when known (timeWrites). */
  readonly writeRate?: number;
  /** merge's --memory-budget: which tensors stream (they split across threads like tiled ones). */
  readonly memoryBudget?: number;
}

/** Bytes per timed read or write: large enough to stream, small enough to skip a warm-up one. */
const IO_CHUNK = 4_000_000;

/**
 * Reads up to `limit` bytes of the plan's inputs in chunks; the first chunk warms up the file
 * handles and is not timed unless it is all there is. Returns the bytes and seconds timed.
 */
async function timeReads(plan: MergePlan, limit: number, now: () => number): Promise<{ bytes: number; seconds: number }> {
  const seen = new Set<string>();
  const chunks: { read: (dst: Uint8Array) => Promise<void>; bytes: number }[] = [];
  let total = 0;
  for (const t of plan.tensors) {
    for (const s of t.sources) {
      const key = `${s.model.ref.text}\0${s.tensor.name}`;
      if (seen.has(key) || total >= limit) continue;
      seen.add(key);
      const take = Math.min(s.tensor.byteLength, limit - total);
      for (let off = 0; off < take; off += IO_CHUNK) {
        const bytes = Math.min(IO_CHUNK, take - off);
        const tensor = s.tensor;
        chunks.push({ bytes, read: (dst) => tensor.source.readInto(tensor.offset + off, dst) });
      }
      total += take;
    }
  }
  if (chunks.length === 0) return { bytes: 0, seconds: 1e-6 };
  const buf = new Uint8Array(Math.min(IO_CHUNK, total));
  const timed = chunks.length > 1 ? chunks.slice(1) : chunks;
  if (chunks.length > 1) await chunks[0]!.read(buf.subarray(0, chunks[0]!.bytes));
  const start = now();
  for (const c of timed) await c.read(buf.subarray(0, c.bytes));
  return { bytes: timed.reduce((a, c) => a + c.bytes, 0), seconds: Math.max((now() - start) / 1000, 1e-6) };
}

/**
 * Write rate of an output location: writes `bytes` to one file of `sink` (closed, which syncs it
 * to disk in the Node host), then aborts the sink so nothing stays. Bytes per second.
 */
export async function timeWrites(sink: OutputSink, bytes: number, now: () => number): Promise<number> {
  const chunk = new Uint8Array(Math.min(IO_CHUNK, bytes)).fill(0x5a);
  try {
    const start = now();
    const w = await sink.create("amalgam-write-test.bin");
    for (let done = 0; done < bytes; done += chunk.length) await w.write(chunk.subarray(0, Math.min(chunk.length, bytes - done)));
    await w.close();
    return bytes / Math.max((now() - start) / 1000, 1e-6);
  } finally {
    await sink.abort();
  }
}

/** Times the method on a synthetic tile shaped like the plan's largest tensor; elements*(K+1)/s. */
function timeMerge(plan: MergePlan, k: Kernels, now: () => number): { rate: number; methodTimed: boolean } {
  const t = plan.tensors.reduce((a, b) => (numelOf(b) > numelOf(a) ? b : a));
  const n = Math.max(64, Math.min(TIMING_ELEMENTS, Math.floor(numelOf(t) / 64) * 64));
  const K = t.sources.length;
  k.reset();
  const mark = k.mark();
  // inputs: small smooth values encoded in each source's stored dtype
  const vals = k.allocF32(n);
  const v = k.f32(vals);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i * 0.37) * 0.02;
  const inputs = t.sources.map((s) => {
    const d = s.tensor.dtype as DType;
    const p = k.alloc(n * DTYPES[d].bytes);
    k.call("encode", p, vals.ptr, DTYPES[d].code, n);
    return p;
  });
  const out = k.alloc(n * 4);
  const scratchStart = k.mark();
  // the executor's per-thread scratch, with room for methods that need more temporaries per chunk
  const scratchBytes = (K + 16) * Math.min(n, CHUNK_ELEMENTS) * 4 + (K + 4) * 128 + 65536;
  k.alloc(scratchBytes);
  const region = k.withRegion({ start: align(scratchStart), end: scratchStart + scratchBytes });
  const job: TileJob = {
    method: plan.method.name, tensor: t.name, numel: n, offset: 0, dtype: t.workingDtype, outDtype: t.outDtype,
    inputs: t.sources.map((s, i) => ({ ptr: inputs[i]!, dtype: s.tensor.dtype as DType, params: s.params, isBase: s.isBase, model: s.model.ref.text, modelIndex: plan.models.indexOf(s.model) })),
    baseIndex: t.baseIndex, global: t.global, isEmbed: t.isEmbed, seed: 0, fixQuirks: false, out,
  };
  let best = Infinity;
  let methodTimed = true;
  try {
    for (let rep = 0; rep < 3; rep++) {
      const s = now();
      runTileJob(region, job);
      best = Math.min(best, now() - s);
    }
  } catch {
    // a method that cannot run on a flat tile: time what every merge does (decode and encode)
    methodTimed = false;
    best = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const s = now();
      for (let i = 0; i < K; i++) k.call("decode", out, inputs[i]!, DTYPES[t.sources[i]!.tensor.dtype as DType].code, n);
      k.call("encode", out, out, DTYPES[t.outDtype].code, n);
      best = Math.min(best, now() - s);
    }
  }
  k.release(mark);
  return { rate: (n * (K + 1)) / Math.max(best / 1000, 1e-6), methodTimed };
}

export async function estimateTime(plan: MergePlan, o: TimeOptions): Promise<TimeEstimate> {
  let readBytes = 0;
  let work = 0;
  let serialWork = 0;
  let streamedWork = 0;
  const budget = o.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const streamed = planStreaming(plan, budget, undefined).tensors;
  for (const t of plan.tensors) {
    const n = numelOf(t);
    const tiled = tileable(plan, t);
    for (const s of t.sources) readBytes += tiled ? n * DTYPES[s.tensor.dtype as DType].bytes : s.tensor.byteLength;
    // tiled and streamed tensors' tiles run on every thread, their reads overlapping the work
    if (tiled) work += n * (t.sources.length + 1);
    else if (streamed.has(t)) streamedWork += n * (t.sources.length + 1);
    else serialWork += n * (t.sources.length + 1);
  }
  const sample = await timeReads(plan, o.sampleBytes ?? DEFAULT_SAMPLE_BYTES, o.now);
  const readRate = sample.bytes / sample.seconds;
  const { rate, methodTimed } = plan.tensors.length ? timeMerge(plan, o.kernels, o.now) : { rate: Infinity, methodTimed: false };
  const streamedRate = streamedWork > 0 ? (await timeStreamed(plan, o.kernels, o.now, budget, TIMING_ELEMENTS)) ?? rate : rate;
  const threads = o.workers ? Math.max(1, o.threads) : 1;
  const overlapped = work / (rate * threads) + streamedWork / (streamedRate * threads);
  const mergeSeconds = overlapped + serialWork / rate;
  const readSeconds = sample.bytes >= readBytes ? sample.seconds : readBytes / readRate;
  const writeSeconds = o.writeRate ? plan.totalBytes / o.writeRate : null;
  const io = readSeconds + (writeSeconds ?? 0);
  // tensors merged whole read, then merge: their work adds to the I/O
  const seconds = Math.max(io, overlapped) + serialWork / rate;
  return {
    seconds, readSeconds, mergeSeconds, writeSeconds, writeRate: o.writeRate ?? null,
    readBytes, readRate, sampledBytes: sample.bytes, mergeRate: rate, methodTimed, threads, writeBytes: plan.totalBytes,
  };
}
