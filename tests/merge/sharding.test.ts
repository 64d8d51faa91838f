// Sharded inputs and sharded output: MergeKit's greedy rule, file names, index JSON and write order.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectMatchesReference, makeModels } from "./harness.ts";

// tiny llama: embed/lm_head 256x64 bf16 = 32768 bytes, q/o 8192, k/v 4096, mlp 16384, norms 128.
describe("sharded inputs and output", () => {
  const fx = makeModels({
    a: { variant: "ft_dense", shardSize: 40_000 },
    b: { variant: "ft_sparse", shardSize: 1 }, // one tensor per shard
    c: { variant: "ft_rows" },
  });
  const linear = `
merge_method: linear
models:
  - model: a
    parameters: {weight: 0.6}
  - model: b
    parameters: {weight: 0.4}
  - model: c
    parameters: {weight: 0.2}
`;

  it("reads sharded inputs (an index, many shards) and writes one file under the 5B default", async () => {
    await expectMatchesReference(fx, linear);
  });

  for (const size of [60_000, 50_000, 16_384, 16_385, 10_000]) {
    it(`greedy output shards of at most ${size} bytes (oversized tensors alone)`, async () => {
      const { out, shards } = await expectMatchesReference(fx, linear, { outShardSize: size });
      expect(shards.files.size).toBeGreaterThan(1);
      const index = JSON.parse(readFileSync(join(out, "model.safetensors.index.json"), "utf8")) as { metadata: Record<string, unknown>; weight_map: Record<string, string> };
      expect(index.metadata["mergekit_version"]).toBe("0.1.4");
      for (const f of new Set(Object.values(index.weight_map))) expect(f).toMatch(/^model-\d{5}-of-\d{5}\.safetensors$/);
    });
  }

  it("a tensor larger than the shard size gets a shard of its own", async () => {
    const { out, shards } = await expectMatchesReference(fx, linear, { outShardSize: 10_000 });
    const index = JSON.parse(readFileSync(join(out, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
    for (const big of ["model.embed_tokens.weight", "lm_head.weight", "model.layers.0.mlp.up_proj.weight"]) {
      const file = index.weight_map[big]!;
      expect(Object.values(index.weight_map).filter((f) => f === file), big).toHaveLength(1);
      expect(shards.files.get(file)!.map((t) => t.name)).toEqual([big]);
    }
  });

  it("out shard size <= 0 means no limit", async () => {
    const { shards } = await expectMatchesReference(fx, linear, { outShardSize: 0 });
    expect([...shards.files.keys()]).toEqual(["model.safetensors"]);
  });

  it("write order follows the largest input name of each tensor (sources with different layer ranges)", async () => {
    await expectMatchesReference(fx, `
merge_method: linear
slices:
  - sources:
      - model: a
        layer_range: [0, 1]
        parameters: {weight: 0.5}
      - model: b
        layer_range: [3, 4]
        parameters: {weight: 0.5}
  - sources:
      - model: a
        layer_range: [1, 2]
        parameters: {weight: 0.5}
      - model: b
        layer_range: [1, 2]
        parameters: {weight: 0.5}
`, { outShardSize: 30_000 });
  });
});
