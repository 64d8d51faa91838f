// Direct reads of model files (runtimes/node/direct-reads.ts, src/executor/read-placement.ts):
// placed reads are widened to aligned blocks at aligned addresses; a Node file read with direct
// I/O gives the same bytes (and really bypasses the page cache: /proc/self/io counts its bytes as
// read from storage); merges read that way give the same output as through the page cache, for the
// tiled (linear), streamed (ties) and whole-tensor paths, with and without worker threads.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FsModelDirectory } from "../../runtimes/node/fs-model.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { parseDirectReads } from "../../runtimes/node/direct-reads.ts";
import { nodeThreadPool } from "../../runtimes/node/thread-pool.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { placeRead, READ_ALIGN } from "../../src/executor/read-placement.ts";
import { layoutFile } from "../../src/io/safetensors-writer.ts";
import type { ByteSource } from "../../src/io/storage.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";

const storageReads = (): number | undefined => {
  try {
    return Number(/read_bytes:\s*(\d+)/.exec(readFileSync("/proc/self/io", "utf8"))?.[1]);
  } catch {
    return undefined;
  }
};

describe("placeRead", () => {
  const src = (size: number, readAlignment?: number): ByteSource => ({ size, readAlignment, readInto: async () => {} });
  it("leaves reads of sources without an alignment as they are", () => {
    expect(placeRead(8192, 1234, 5000, src(100_000))).toEqual({ ptr: 8192, at: 8192, offset: 1234, length: 5000 });
  });
  it("widens reads to aligned blocks at an aligned address, the wanted bytes inside", () => {
    for (const [offset, length] of [[1234, 5000], [4096, 8192], [4095, 1], [0, 10], [99_000, 1000]] as const) {
      const r = placeRead(3 * READ_ALIGN, offset, length, src(100_000, 4096));
      expect(r.at % 4096).toBe(0);
      expect(r.offset % 4096).toBe(0);
      expect(r.ptr - r.at).toBe(offset - r.offset);
      expect(r.offset + r.length).toBe(Math.min(100_000, Math.ceil((offset + length) / 4096) * 4096)); // ends at a block or the file's end
      expect(r.length - (offset - r.offset)).toBeGreaterThanOrEqual(length);
      expect(r.length).toBeLessThanOrEqual(length + 2 * 4096);
    }
  });
  it("does not move reads into a buffer that is not aligned", () => {
    expect(placeRead(64, 1234, 5000, src(100_000, 4096)).ptr).toBe(64);
  });
});

describe("AMALGAM_DIRECT_READS", () => {
  it("takes auto, always and never", () => {
    expect(parseDirectReads(undefined)).toBe("auto");
    expect(parseDirectReads("always")).toBe("always");
    expect(parseDirectReads("never")).toBe("never");
    expect(() => parseDirectReads("yes")).toThrow(/AMALGAM_DIRECT_READS=yes: expected auto, always or never/);
  });
});

// ---- real files: two bf16 models with 1-2 MB tensors at offsets that are not aligned ----

function writeModel(dir: string, seed: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify({ architectures: ["DirectTestForCausalLM"], model_type: "direct_test", num_hidden_layers: 1, hidden_size: 1000, torch_dtype: "bfloat16" }));
  const shapes: Record<string, number[]> = { "model.layers.0.mlp.up_proj.weight": [1000, 1000], "model.layers.0.mlp.down_proj.weight": [999, 500], "model.norm.weight": [1000] };
  const specs = Object.entries(shapes).map(([name, shape]) => ({ name, dtype: "BF16" as const, shape }));
  const layout = layoutFile(specs);
  const file = new Uint8Array(layout.totalBytes);
  file.set(layout.header);
  let at = layout.header.length;
  let s = seed * 2654435761 >>> 0 || 1;
  for (const t of layout.order) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) {
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
      const v = new Float32Array([((s & 0xffff) / 0x8000 - 1) * 0.1]);
      const bits = new Uint32Array(v.buffer)[0]! >>> 16;
      file[at + 2 * i] = bits & 255;
      file[at + 2 * i + 1] = bits >>> 8;
    }
    at += n * 2;
  }
  writeFileSync(join(dir, "model.safetensors"), file);
}

describe("direct reads of model files", () => {
  const dir = tempDir("amalgam-direct-reads-");
  for (let m = 0; m < 3; m++) writeModel(join(dir, `m${m}`), m + 1);

  it("read the same bytes, from the disk and not the page cache", async () => {
    const path = join(dir, "m1", "model.safetensors");
    const bytes = readFileSync(path); // now in the page cache
    const memory = new WebAssembly.Memory({ initial: 128, maximum: 128 });
    for (const mode of ["always", "never"] as const) {
      const d = new FsModelDirectory("m1", join(dir, "m1"), undefined, mode);
      const src = await d.open("model.safetensors");
      expect(src.readAlignment).toBe(mode === "always" ? 4096 : undefined);
      const before = storageReads();
      const dest = new Uint8Array(memory.buffer, 8192, 1 << 20);
      await src.readInto(4096, dest);
      const read = storageReads();
      expect(Buffer.from(dest).equals(bytes.subarray(4096, 4096 + (1 << 20)))).toBe(true);
      // the whole file, whose size is not a multiple of 4096: the last bytes through the page cache
      const all = new Uint8Array(memory.buffer, 2 * 1024 * 1024, bytes.length);
      await src.readInto(0, all);
      expect(Buffer.from(all).equals(bytes)).toBe(true);
      if (before !== undefined && read !== undefined) {
        // direct: the MiB came from storage although the file is in the page cache
        if (mode === "always") expect(read - before).toBeGreaterThanOrEqual(1 << 20);
        else expect(read - before).toBeLessThan(1 << 20);
      }
      await d.close();
    }
  });

  it("look cold only when they are not in the page cache (auto)", async () => {
    readFileSync(join(dir, "m2", "model.safetensors"));
    const d = new FsModelDirectory("m2", join(dir, "m2"), undefined, "auto");
    const src = await d.open("model.safetensors");
    expect(src.readAlignment).toBeUndefined(); // just read: in the page cache, so read through it
    await d.close();
  });

  const configs = {
    linear: `merge_method: linear\nmodels:\n  - model: m0\n    parameters: {weight: 0.5}\n  - model: m1\n    parameters: {weight: 0.3}\n  - model: m2\n    parameters: {weight: 0.2}\ndtype: bfloat16\n`,
    ties: `merge_method: ties\nbase_model: m0\nmodels:\n  - model: m1\n    parameters: {weight: 0.6, density: 0.5}\n  - model: m2\n    parameters: {weight: 0.4, density: 0.3}\ndtype: bfloat16\n`,
    slerp: `merge_method: slerp\nbase_model: m0\nmodels:\n  - model: m0\n  - model: m1\nparameters: {t: 0.3}\ndtype: bfloat16\n`,
  };
  for (const [name, yaml] of Object.entries(configs)) {
    it(`${name}: the same output read direct as through the page cache, with and without threads`, async () => {
      const merge = async (mode: "always" | "never", extra = {}) => {
        const out = join(tempDir(), "out");
        await runMerge(yaml, dir, out, { resolveModel: fsResolver(dir, mode), ...extra });
        return readFileSync(join(out, "model.safetensors"));
      };
      const want = await merge("never");
      expect((await merge("always")).equals(want), "direct, no threads").toBe(true);
      const kernels = await loadKernelModule(true);
      // small budgets: tiles of a part of a tensor, kept inputs, and not kept
      for (const memoryBudget of [256_000_000, 3_000_000]) {
        expect((await merge("always", { kernels, threadPool: nodeThreadPool, threadCount: 2, memoryBudget })).equals(want), `direct, 2 threads, budget ${memoryBudget}`).toBe(true);
      }
    });
  }
});
