// The tiled and threaded executor against the reference: tiles (multiples of 64 elements) that
// leave ragged last tiles on odd tensor sizes, every dtype, sharded input and output.
import { describe, it } from "vitest";
import { nodeThreadPool } from "../../runtimes/node/thread-pool.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { expectMatchesReference, makeModels } from "./harness.ts";

const arch = { hidden: 21, intermediate: 37, vocab: 37, heads: 3, kvHeads: 1, layers: 3 };
const config = (dtype: string) => `
merge_method: linear
dtype: ${dtype}
out_dtype: bfloat16
slices:
  - sources:
      - model: a
        layer_range: [0, 3]
        parameters: {weight: [0.2, 0.9]}
      - model: b
        layer_range: [0, 3]
        parameters:
          weight:
            - filter: mlp
              value: [0.6, 0.1, 0.35]
            - value: 0.4
      - model: c
        layer_range: [0, 3]
        parameters: {weight: 0.33}
`;

describe("tiles and threads match the reference", () => {
  const fx = makeModels({
    a: { variant: "ft_dense", arch, dtype: "fp16" },
    b: { variant: "ft_sparse", arch, dtype: "bf16", shardSize: 2000 },
    c: { variant: "ft_rows", arch, dtype: "fp32" },
  });
  for (const tileElements of [64, 128, 192]) {
    for (const dtype of ["float16", "float32"]) {
      it(`${tileElements}-element tiles on the calling thread, dtype ${dtype}`, async () => {
        await expectMatchesReference(fx, config(dtype), { outShardSize: 5000, merge: { tileElements } });
      });
    }
  }
  for (const threads of [2, 3]) {
    it(`${threads} worker threads with 64-element tiles`, async () => {
      const kernels = await loadKernelModule(true);
      await expectMatchesReference(fx, config("bfloat16"), { outShardSize: 5000, merge: { kernels, threadPool: nodeThreadPool, threadCount: threads, tileElements: 64 } });
      await expectMatchesReference(fx, `
merge_method: passthrough
slices:
  - sources:
      - model: b
        layer_range: [0, 2]
        parameters: {scale: [0.5, 3]}
  - sources:
      - model: c
        layer_range: [1, 3]
`, { merge: { kernels, threadPool: nodeThreadPool, threadCount: threads, tileElements: 64 } });
    });
  }
});
