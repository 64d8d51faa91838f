// Tiled and threaded merges give the same bytes as MergeKit for any tile size and thread count.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nodeThreadPool } from "../../runtimes/node/thread-pool.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { GOLDEN, runGolden } from "../helpers/run-merge.ts";

const ref = (name: string) => readFileSync(join(GOLDEN, "reference", name, "model.safetensors"));

describe("tiled merges", () => {
  for (const tileElements of [64, 192, 4096]) {
    it(`linear with ${tileElements}-element tiles on the calling thread is bit-identical`, async () => {
      const { out } = await runGolden("linear", { tileElements });
      expect(readFileSync(join(out, "model.safetensors")).equals(ref("linear"))).toBe(true);
    });
  }
  for (const threads of [1, 2, 3]) {
    it(`linear and passthrough with ${threads} worker thread(s) are bit-identical`, async () => {
      const kernels = await loadKernelModule(true);
      for (const name of ["linear", "passthrough"]) {
        const { out } = await runGolden(name, { kernels, threadPool: nodeThreadPool, threadCount: threads, tileElements: 128 });
        expect(readFileSync(join(out, "model.safetensors")).equals(ref(name)), name).toBe(true);
      }
    });
  }
});
