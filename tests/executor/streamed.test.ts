// Streamed (multi-pass, tiled) merges of the task-arithmetic family give the same bytes as the
// whole-tensor path for every tile size and thread count: on the golden configs and on generated
// models whose tensors span many tiles, in bf16, f16 and f32; and they hold far less memory.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { DType } from "../../src/dtype.ts";
import { layoutFile } from "../../src/io/safetensors-writer.ts";
import type { MergeOptions } from "../../src/executor/merge.ts";
import { nodeThreadPool } from "../../runtimes/node/thread-pool.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import type { ByteSource, ModelDirectory } from "../../src/io/storage.ts";
import { GOLDEN, runGolden, runMerge, tempDir } from "../helpers/run-merge.ts";
import { f32ToF16Bits, roundRef } from "../helpers/reference.ts";
import { inSample, SAMPLE_SHIFT } from "../../src/methods/gta/rank-band.ts";

const outBytes = (dir: string) => readFileSync(join(dir, "model.safetensors"));

/**
 * Model files whose sources ask for placed reads (ByteSource.readAlignment 4096, as a Node file
 * read with direct I/O does): counts the tile reads (4 KiB or more) and those not at an aligned
 * file offset into aligned wasm memory, or not ending at a block or the file's end.
 */
function alignedResolver(cwd: string, placed: { reads: number; misplaced: number }) {
  return wrapSources(cwd, (s) => ({
    size: s.size, readAlignment: 4096,
    readInto: async (offset: number, dest: Uint8Array) => {
      // tile reads land in wasm memory (headers are read into small buffers of their own)
      if (dest.length >= 4096 && dest.buffer.byteLength >= 1 << 20) {
        placed.reads++;
        const end = offset + dest.length;
        if (offset % 4096 || dest.byteOffset % 4096 || (end % 4096 && end !== s.size)) placed.misplaced++;
      }
      return s.readInto(offset, dest);
    },
  }));
}

/** Each tensor's byte range [start, end) in a safetensors file. */
function tensorRanges(file: Buffer): Map<string, readonly [number, number]> {
  const hlen = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + hlen).toString("utf8")) as Record<string, { data_offsets?: [number, number] }>;
  return new Map(Object.entries(header).flatMap(([name, e]) => (e.data_offsets ? [[name, [8 + hlen + e.data_offsets[0], 8 + hlen + e.data_offsets[1]] as const]] : [])));
}

/** Model directories under `cwd` (read through the page cache) whose files are wrapped by `wrap`. */
function wrapSources(cwd: string, wrap: (s: ByteSource) => ByteSource) {
  const inner = fsResolver(cwd, "never");
  return async (ref: string): Promise<ModelDirectory> => {
    const d = await inner(ref);
    return {
      ref: d.ref, has: (n) => d.has(n), readFile: (n) => d.readFile(n), close: () => d.close?.() ?? Promise.resolve(),
      open: async (n) => wrap(await d.open(n)),
    };
  };
}

describe("streamed gta merges: golden configs", () => {
  const EXACT: Readonly<Record<string, string>> = { ties: "reference-stable", breadcrumbs: "reference-stable", breadcrumbs_ties: "reference-stable" };
  for (const name of ["ties", "breadcrumbs", "breadcrumbs_ties", "dare_ties", "dare_linear", "della", "della_linear"]) {
    it(`${name}: every tile size and thread count gives the whole-tensor bytes`, async () => {
      const whole = outBytes((await runGolden(name)).out);
      if (EXACT[name]) expect(whole.equals(readFileSync(join(GOLDEN, EXACT[name]!, name, "model.safetensors"))), "MergeKit's bytes").toBe(true);
      for (const tileElements of [64, 192, 4096]) {
        expect(outBytes((await runGolden(name, { tileElements })).out).equals(whole), `${tileElements}-element tiles`).toBe(true);
      }
      const kernels = await loadKernelModule(true);
      for (const threadCount of [1, 3]) {
        const r = await runGolden(name, { kernels, threadPool: nodeThreadPool, threadCount, tileElements: 128 });
        expect(outBytes(r.out).equals(whole), `${threadCount} worker thread(s)`).toBe(true);
      }
    });
  }
});

// ---- generated models: tensors of 300 x 257 and 1000 x 64 elements ----

/** xorshift32 in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}

function encode(values: Float32Array, dtype: DType): Uint8Array {
  if (dtype === "F32") return new Uint8Array(values.buffer.slice(0));
  const out = new Uint16Array(values.length);
  const bits = new Uint32Array(values.buffer);
  for (let i = 0; i < values.length; i++) {
    out[i] = dtype === "BF16" ? bits[i]! >>> 16 : f32ToF16Bits(values[i]!); // values are already bf16 / f16
  }
  return new Uint8Array(out.buffer);
}

type Shapes = Record<string, readonly number[]>;
const SHAPES: Shapes = {
  "model.embed_tokens.weight": [300, 257],
  "model.layers.0.mlp.up_proj.weight": [1000, 64],
  "model.layers.0.input_layernorm.weight": [257],
  "model.norm.weight": [257],
  "lm_head.weight": [300, 257],
};

/**
 * A model whose values are the base's plus a delta: many deltas repeat (ties at every top-k
 * boundary), some are zero, the rest spread over several binades.
 */
function writeModel(dir: string, dtype: DType, seed: number, shapes: Shapes = SHAPES): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify({ architectures: ["StreamTestForCausalLM"], model_type: "stream_test", num_hidden_layers: 1 + Math.max(0, ...Object.keys(shapes).map((n) => Number(/\.layers\.(\d+)\./.exec(n)?.[1] ?? 0))), hidden_size: 257, vocab_size: 300, torch_dtype: { F32: "float32", BF16: "bfloat16", F16: "float16" }[dtype] }));
  const mode = { F32: 0, BF16: 1, F16: 2 }[dtype];
  const tensors = Object.entries(shapes).map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const base = rng(name.length * 7919 + 1);
    const r = rng(seed * 104729 + name.length);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const b = (base() - 0.5) * 0.2;
      const u = r();
      const d = seed === 0 ? 0 : u < 0.15 ? 0 : u < 0.55 ? [0.001, -0.002, 0.004, -0.001][Math.floor(r() * 4)]! : (r() - 0.5) * 2 ** -Math.floor(r() * 12);
      v[i] = roundRef(b + d, mode);
    }
    return { name, shape, dtype, data: encode(v, dtype) };
  });
  const layout = layoutFile(tensors.map(({ name, shape }) => ({ name, dtype, shape })));
  const parts = [layout.header, ...layout.order.map((s) => tensors.find((t) => t.name === s.name)!.data)];
  writeFileSync(join(dir, "model.safetensors"), Buffer.concat(parts));
}

describe("streamed gta merges: generated models spanning many tiles", () => {
  const dir = tempDir("amalgam-streamed-");
  for (const dtype of ["BF16", "F16", "F32"] as const) {
    for (let m = 0; m < 4; m++) writeModel(join(dir, dtype, `m${m}`), dtype, m);
  }
  // a model with more vocabulary rows (read as a prefix) and one with a mismatched MLP (skipped)
  writeModel(join(dir, "BF16", "big-vocab"), "BF16", 5, { ...SHAPES, "model.embed_tokens.weight": [310, 257], "lm_head.weight": [310, 257] });
  writeModel(join(dir, "BF16", "odd-mlp"), "BF16", 6, { ...SHAPES, "model.layers.0.mlp.up_proj.weight": [1000, 65] });

  const models = (dtype: string, params: readonly string[], names = ["m1", "m2", "m3"]) =>
    names.map((m, i) => `  - model: ${dtype}/${m}\n    parameters: {${params[i]}}\n`).join("");
  const configs: readonly [string, string][] = [
    ["ties bf16", `merge_method: ties\nbase_model: BF16/m0\nmodels:\n${models("BF16", ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3"])}`],
    ["ties f16 rescale", `merge_method: ties\nbase_model: F16/m0\nparameters: {rescale: true, normalize: false}\nmodels:\n${models("F16", ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3"])}`],
    ["ties f32 lambda", `merge_method: ties\nbase_model: F32/m0\nparameters: {lambda: 0.7}\nmodels:\n${models("F32", ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.001", "weight: 0.2, density: 1"])}`],
    ["breadcrumbs f32", `merge_method: breadcrumbs\nbase_model: F32/m0\nmodels:\n${models("F32", ["weight: 0.5, density: 0.8, gamma: 0.05", "weight: 0.3, density: 0.9, gamma: 0.02", "weight: 0.2, density: 0.7, gamma: 0.01"])}`],
    ["breadcrumbs_ties f16 rescale", `merge_method: breadcrumbs_ties\nbase_model: F16/m0\nparameters: {rescale: true}\nmodels:\n${models("F16", ["weight: 0.5, density: 0.8, gamma: 0.05", "weight: 0.3, density: 0.9, gamma: 0.002", "weight: 0.2, density: 0.7, gamma: 0.01"])}`],
    ["dare_ties f16", `merge_method: dare_ties\nbase_model: F16/m0\nmodels:\n${models("F16", ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3"])}`],
    ["dare_linear bf16 as f32", `merge_method: dare_linear\nbase_model: BF16/m0\ndtype: float32\nmodels:\n${models("BF16", ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3"])}`],
    ["ties mixed shapes", `merge_method: ties\nbase_model: BF16/m0\nmodels:\n${models("BF16", ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3"], ["m1", "big-vocab", "odd-mlp"])}`],
    ["della bf16", `merge_method: della\nbase_model: BF16/m0\nmodels:\n${models("BF16", ["weight: 0.5, density: 0.5, epsilon: 0.1", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3, epsilon: 0.05"])}`],
    ["della_linear f16 lambda", `merge_method: della_linear\nbase_model: F16/m0\nparameters: {lambda: 0.8}\nmodels:\n${models("F16", ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3"])}`],
    ["dare_ties mixed dtypes", `merge_method: dare_ties\nbase_model: F16/m0\nmodels:\n${models("BF16", ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7"], ["m1", "m2"])}  - model: F32/m3\n    parameters: {weight: 0.2, density: 0.3}\n`],
  ];
  /**
   * bf16 models m0-m3 in `name` with an MLP weight of `rows` x 64 in each of layers [from, to) besides
   * SHAPES, and the ties config of the three fine-tunes on m0.
   */
  const layeredTies = (name: string, from: number, to: number, rows: number) => {
    const layers: Shapes = { ...SHAPES };
    for (let l = from; l < to; l++) layers[`model.layers.${l}.mlp.up_proj.weight`] = [rows, 64];
    for (let m = 0; m < 4; m++) writeModel(join(dir, name, `m${m}`), "BF16", m, layers);
    const yaml = `merge_method: ties\nbase_model: ${name}/m0\nmodels:\n${models(name, ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3"])}`;
    return { layers, yaml };
  };
  const merge = async (yaml: string, extra: Partial<MergeOptions> = {}) => {
    const out = join(tempDir(), "out");
    const r = await runMerge(yaml, dir, out, { randomSeed: 7, ...extra });
    return { bytes: outBytes(out), warnings: r.warnings, peak: r.peakKernelBytes };
  };

  for (const [what, yaml] of configs) {
    it(`${what}: identical bytes for tile sizes 64 and 8192 and 1-3 worker threads`, async () => {
      const whole = await merge(yaml);
      for (const tileElements of [64, 8192]) {
        const s = await merge(yaml, { tileElements });
        expect(s.bytes.equals(whole.bytes), `${what}: ${tileElements}-element tiles`).toBe(true);
        expect([...s.warnings].sort(), `${tileElements}-element tiles`).toEqual([...whole.warnings].sort());
      }
      const kernels = await loadKernelModule(true);
      for (const [threadCount, tileElements] of [[1, 1024], [3, 576]] as const) {
        const s = await merge(yaml, { kernels, threadPool: nodeThreadPool, threadCount, tileElements });
        expect(s.bytes.equals(whole.bytes), `${what}: ${threadCount} thread(s), ${tileElements}-element tiles`).toBe(true);
      }
      // sources that want their reads placed (direct I/O): widened, aligned reads, kept per tile
      for (const [threadCount, tileElements] of [[1, 64], [2, 8192]] as const) {
        const placed = { reads: 0, misplaced: 0 };
        const s = await merge(yaml, { kernels, threadPool: nodeThreadPool, threadCount, tileElements, resolveModel: alignedResolver(dir, placed) });
        expect(s.bytes.equals(whole.bytes), `${what}: placed reads, ${threadCount} thread(s), ${tileElements}-element tiles`).toBe(true);
        expect(placed.reads).toBeGreaterThan(0);
        expect(placed.misplaced, "reads not at an aligned offset into aligned memory").toBe(0);
      }
    });
  }

  it("skips the mismatched model with the whole-tensor path's warning", async () => {
    const s = await merge(configs.find(([w]) => w === "ties mixed shapes")![1], { tileElements: 256 });
    expect(s.warnings.some((w) => w.includes("skipping model BF16/odd-mlp") && w.includes("model.layers.0.mlp.up_proj.weight"))).toBe(true);
  });

  it("streams on its own under a small memory budget, holding a fraction of the whole-tensor memory", async () => {
    const shapes: Shapes = { ...SHAPES, "model.layers.0.mlp.up_proj.weight": [2048, 512] };
    for (let m = 0; m < 4; m++) writeModel(join(dir, "big", `m${m}`), "BF16", m, shapes);
    const yaml = `merge_method: ties\nbase_model: big/m0\nmodels:\n${models("big", ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3"])}`;
    // the default budget streams the 1M-element tensor (STREAM_MIN_ELEMENTS) in one tile
    const oneTile = await merge(yaml);
    const small = await merge(yaml, { memoryBudget: 4_000_000 });
    expect(small.bytes.equals(oneTile.bytes)).toBe(true);
    // whole, the tensor would need four 1M-element inputs as float32 (16 MB) and more; streamed
    // under 4 MB: slots of 65536-element tiles, scratch and the histograms' accumulator
    expect(small.peak).toBeLessThan(8_000_000);
  });

  it("NaN payloads, infinities and -0 in the inputs: streamed (inputs kept as task vectors between passes) equals whole", async () => {
    for (const dtype of ["BF16", "F32"] as const) {
      for (let m = 0; m < 4; m++) {
        const d = join(dir, "special", dtype, `m${m}`);
        writeModel(d, dtype, m);
        if (m === 0) continue;
        // plant special values in the MLP weight of each fine-tune
        const f = readFileSync(join(d, "model.safetensors"));
        const at = tensorRanges(f).get("model.layers.0.mlp.up_proj.weight")![0];
        const bits = dtype === "BF16" ? [0x7fc1, 0xffa5, 0x7f80, 0xff80, 0x8000, 0x7f81] : [0x7fc00123, 0xffa00001, 0x7f800000, 0xff800000, 0x80000000, 0x7f800001];
        bits.forEach((b, i) => {
          const idx = 97 * m + 1000 * i + 13;
          if (dtype === "BF16") f.writeUInt16LE(b, at + idx * 2);
          else f.writeUInt32LE(b, at + idx * 4);
        });
        writeFileSync(join(d, "model.safetensors"), f);
      }
      const yaml = `merge_method: ties\nbase_model: special/${dtype}/m0\nmodels:\n${models(`special/${dtype}`, ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3"])}`;
      const whole = await merge(yaml);
      for (const tileElements of [64, 4096]) {
        const s = await merge(yaml, { tileElements });
        expect(s.bytes.equals(whole.bytes), `${dtype}, ${tileElements}-element tiles`).toBe(true);
      }
    }
  });

  it("bf16 ties whose sampled elements mislead the band (the full histogram decides): streamed equals whole", async () => {
    // the fine-tunes equal the base on tv_bf16's sampled elements of the MLP weight: the sample
    // sees zeros and places the top-k boundary far below the real one
    const name = "model.layers.0.mlp.up_proj.weight";
    const tensorAt = (f: Buffer) => tensorRanges(f).get(name)![0];
    for (let m = 0; m < 4; m++) writeModel(join(dir, "misled", `m${m}`), "BF16", m);
    const base = readFileSync(join(dir, "misled", "m0", "model.safetensors"));
    for (let m = 1; m < 4; m++) {
      const file = join(dir, "misled", `m${m}`, "model.safetensors");
      const f = readFileSync(file);
      const at = tensorAt(f);
      for (let i = 0; i < 1000 * 64; i++) if (inSample(i, SAMPLE_SHIFT)) f.writeUInt16LE(base.readUInt16LE(tensorAt(base) + i * 2), at + i * 2);
      writeFileSync(file, f);
    }
    const yaml = `merge_method: ties\nbase_model: misled/m0\nmodels:\n${models("misled", ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3"])}`;
    const whole = await merge(yaml);
    for (const tileElements of [64, 4096]) {
      const routes: string[] = [];
      const s = await merge(yaml, { tileElements, onStreamPass: (t, step) => { if (t === name) routes.push(step); } });
      expect(s.bytes.equals(whole.bytes), `${tileElements}-element tiles`).toBe(true);
      expect(routes, `${tileElements}-element tiles`).toEqual(["sample", "band", "hist", "final"]);
    }
  });

  it("bf16 ties takes the sample-and-band route: later layers count a band predicted from the layer before, no full histogram", async () => {
    const { yaml } = layeredTies("layers", 1, 4, 1000);
    const routes = new Map<string, string[]>();
    const whole = await merge(yaml);
    const s = await merge(yaml, { tileElements: 4096, onStreamPass: (t, step) => routes.set(t, [...(routes.get(t) ?? []), step]) });
    expect(s.bytes.equals(whole.bytes)).toBe(true);
    // the first layer's band comes from the sample, in a pass of its own; the later layers' from
    // the layer before, counted in the first pass
    expect(routes.get("model.layers.0.mlp.up_proj.weight")).toEqual(["sample", "band", "final"]);
    for (let l = 1; l < 4; l++) expect(routes.get(`model.layers.${l}.mlp.up_proj.weight`), `layer ${l}`).toEqual(["sample", "final"]);
    for (const t of ["model.embed_tokens.weight", "lm_head.weight"]) expect(routes.get(t), t).toEqual(["sample", "band", "final"]);
    // 257-element norms: a 1/16 sample of them is too small to place a band, the histogram decides
    for (const [t, r] of routes) expect(r[0] === "sample" && r[r.length - 1] === "final", `${t}: ${r.join(",")}`).toBe(true);
  });

  it("with worker threads, reads the next tensor's inputs during a final pass, with the same bytes", async () => {
    // 4 layers of bf16 ties; the tensors after the first of each run of streamed ones take inputs
    // read ahead (MergeOptions.onStreamPass's readAhead), with sources that read anywhere and
    // with sources that place their reads (direct I/O's layout), and the bytes read stay the same
    const { layers, yaml } = layeredTies("ahead", 1, 4, 1000);
    const whole = await merge(yaml);
    const kernels = await loadKernelModule(true);
    for (const placedReads of [false, true]) {
      const ahead: string[] = [];
      const placed = { reads: 0, misplaced: 0 };
      const s = await merge(yaml, {
        kernels, threadPool: nodeThreadPool, threadCount: 2, tileElements: 8192,
        onStreamPass: (t, step, readAhead) => { if (readAhead) ahead.push(`${t}:${step}`); },
        ...(placedReads ? { resolveModel: alignedResolver(dir, placed) } : {}),
      });
      expect(s.bytes.equals(whole.bytes), `placed reads: ${placedReads}`).toBe(true);
      // every streamed tensor but the first reads ahead
      for (let l = 1; l < 4; l++) expect(ahead, `placed reads: ${placedReads}`).toContain(`model.layers.${l}.mlp.up_proj.weight:sample`);
      expect(ahead).toContain("model.norm.weight:sample");
      expect(ahead.length).toBe(Object.keys(layers).length - 1);
      if (placedReads) expect(placed.misplaced).toBe(0);
    }
    // output in several shards: the read-ahead goes on across shard boundaries, with the same bytes
    const shardsDir = (out: string) => readdirSync(out).filter((f) => f.endsWith(".safetensors")).sort().map((f) => readFileSync(join(out, f)));
    const split = async (extra: Partial<MergeOptions>) => {
      const out = join(tempDir(), "out");
      await runMerge(yaml, dir, out, { randomSeed: 7, outShardSize: 300_000, ...extra });
      return shardsDir(out);
    };
    const wholeShards = await split({});
    expect(wholeShards.length).toBeGreaterThan(2);
    const ahead: string[] = [];
    const got = await split({ kernels, threadPool: nodeThreadPool, threadCount: 2, tileElements: 8192, onStreamPass: (t, step, readAhead) => { if (readAhead) ahead.push(`${t}:${step}`); } });
    expect(got.length).toBe(wholeShards.length);
    got.forEach((b, n) => expect(b.equals(wholeShards[n]!), `shard ${n + 1}`).toBe(true));
    expect(ahead.length).toBe(Object.keys(layers).length - 1);
  });

  it("with worker threads, reads a tensor's inputs while the tensors before it run, not only during the final pass before it", async () => {
    // 6 layers of bf16 ties: the events (passes, and reads by the tensor they read) in order. A
    // tensor's reads start as soon as the one before has all its inputs (its first pass waits for
    // them), which is before that tensor's final pass; the read-ahead only at final passes started
    // them after it. Every file has the same layout, so an offset names a tensor in any of them.
    const { layers, yaml } = layeredTies("deep", 1, 6, 1000);
    const ranges = [...tensorRanges(readFileSync(join(dir, "deep", "m0", "model.safetensors")))];
    const tensorAt = (offset: number) => ranges.find(([, [a, b]]) => offset >= a && offset < b)?.[0] ?? "?";
    const whole = await merge(yaml);
    const events: string[] = [];
    const s = await merge(yaml, {
      kernels: await loadKernelModule(true), threadPool: nodeThreadPool, threadCount: 2, tileElements: 8192,
      onStreamPass: (t, step) => events.push(`${step} ${t}`),
      resolveModel: wrapSources(dir, (src) => ({
        size: src.size,
        readInto: (offset: number, dest: Uint8Array) => {
          if (dest.buffer.byteLength >= 1 << 20) events.push(`read ${tensorAt(offset)}`);
          return src.readInto(offset, dest);
        },
      })),
    });
    expect(s.bytes.equals(whole.bytes)).toBe(true);
    const streamed = [...new Set(events.filter((e) => !e.startsWith("read ")).map((e) => e.slice(e.indexOf(" ") + 1)))];
    expect(streamed.length).toBe(Object.keys(layers).length);
    for (let n = 1; n < streamed.length; n++) {
      const firstRead = events.indexOf(`read ${streamed[n]}`);
      const finalBefore = events.indexOf(`final ${streamed[n - 1]}`);
      expect(firstRead, `${streamed[n]}: no reads`).toBeGreaterThanOrEqual(0);
      expect(firstRead < finalBefore, `${streamed[n]} read before ${streamed[n - 1]}'s final pass`).toBe(true);
    }
  });

  it("with worker threads and a small budget, tensors whose inputs are not kept hold the slots while the others are read ahead around them", async () => {
    // embed_tokens and lm_head (4 x 154 KB) are not kept under a 1.2 MB budget (450 KB of cache)
    // and read into the slots in every pass; the layers (4 x 64 KB) are kept and read ahead,
    // the first after each of those during its final pass, into the region it leaves free
    const { yaml } = layeredTies("held", 0, 4, 500);
    const whole = await merge(yaml);
    const kernels = await loadKernelModule(true);
    for (const placedReads of [false, true]) {
      const ahead = new Set<string>();
      const placed = { reads: 0, misplaced: 0 };
      for (const threadCount of [1, 2, 3]) {
        const s = await merge(yaml, {
          kernels, threadPool: nodeThreadPool, threadCount, tileElements: 8192, memoryBudget: 1_200_000,
          onStreamPass: (t, step, readAhead) => { if (readAhead) ahead.add(t); },
          ...(placedReads ? { resolveModel: alignedResolver(dir, placed) } : {}),
        });
        expect(s.bytes.equals(whole.bytes), `placed reads: ${placedReads}, ${threadCount} thread(s)`).toBe(true);
      }
      for (let l = 0; l < 4; l++) expect(ahead, `placed reads: ${placedReads}`).toContain(`model.layers.${l}.mlp.up_proj.weight`);
      for (const t of ["model.embed_tokens.weight", "lm_head.weight"]) expect(ahead.has(t), t).toBe(false);
      if (placedReads) expect(placed.misplaced).toBe(0);
    }
  });

  it("with worker threads, a failed read of a tensor read ahead fails the merge on that tensor, after every read started has settled", async () => {
    const { yaml } = layeredTies("failing", 1, 6, 1000);
    // every model has the same layout: one byte range is the same tensor in each
    const bad = "model.layers.4.mlp.up_proj.weight";
    const [from, to] = tensorRanges(readFileSync(join(dir, "failing", "m0", "model.safetensors"))).get(bad)!;
    let pending = 0;
    let failed = 0;
    const err = await merge(yaml, {
      kernels: await loadKernelModule(true), threadPool: nodeThreadPool, threadCount: 2, tileElements: 8192,
      resolveModel: wrapSources(dir, (src) => ({
        size: src.size,
        readInto: async (offset: number, dest: Uint8Array) => {
          pending++;
          try {
            // one layer's MLP weight cannot be read, in any model
            if (offset < to && offset + dest.length > from) {
              failed++;
              await new Promise((r) => setTimeout(r, 5));
              throw new Error("injected read failure");
            }
            // the tensors after it read slowly: their reads are still in flight when it fails
            if (offset >= to) await new Promise((r) => setTimeout(r, 20));
            return await src.readInto(offset, dest);
          } finally {
            pending--;
          }
        },
      })),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/injected read failure/);
    expect((err as Error).message).toContain(bad);
    expect(failed).toBeGreaterThan(0);
    expect(pending).toBe(0);
  });

  it("keeps a tensor's stored inputs between passes when they fit the budget: each byte is read once", async () => {
    const shapes: Shapes = { ...SHAPES, "model.layers.0.mlp.up_proj.weight": [2048, 512] };
    for (let m = 0; m < 4; m++) writeModel(join(dir, "cache", `m${m}`), "BF16", m, shapes);
    const yaml = `merge_method: ties\nbase_model: cache/m0\nmodels:\n${models("cache", ["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7", "weight: 0.2, density: 0.3"])}`;
    // bytes read from the big tensor's byte range of each model's file
    const big = 2048 * 512 * 2;
    const counting = (read: { bytes: number }) => wrapSources(dir, (s) => ({
      size: s.size, readInto: async (offset: number, dest: Uint8Array) => { if (dest.length >= 4096) read.bytes += dest.length; return s.readInto(offset, dest); },
    }));
    const cachedRead = { bytes: 0 };
    const cached = await merge(yaml, { resolveModel: counting(cachedRead) });
    const uncachedRead = { bytes: 0 };
    // 6 MB: tiles of a quarter of the tensor and no room to keep its 8 MB of inputs
    const uncached = await merge(yaml, { memoryBudget: 6_000_000, resolveModel: counting(uncachedRead) });
    expect(uncached.bytes.equals(cached.bytes)).toBe(true);
    // ties over bf16: a histogram pass, then the final pass; the other tensors (1.2 MB) are read
    // the same way in both runs
    const others = 4 * 2 * 300 * 257 * 2;
    expect(cachedRead.bytes).toBe(4 * big + others);
    expect(uncachedRead.bytes).toBe(2 * 4 * big + others);
  });
});
