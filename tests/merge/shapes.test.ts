// Odd tensor sizes (every SIMD loop's scalar tail) and tied embeddings (models without lm_head).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTensors } from "../helpers/safetensors-read.ts";
import { expectMatchesReference, makeModels } from "./harness.ts";

describe("odd tensor sizes", () => {
  const shapes = [
    { hidden: 24, intermediate: 40, vocab: 37, heads: 4, kvHeads: 2, layers: 3 },
    { hidden: 21, intermediate: 37, vocab: 37, heads: 3, kvHeads: 1, layers: 3 }, // 7x21 = 147 elements, norms of 21
  ];
  for (const arch of shapes) {
    for (const dtype of ["bf16", "fp16", "fp32"] as const) {
      it(`hidden ${arch.hidden}, intermediate ${arch.intermediate}, vocab ${arch.vocab} in ${dtype}`, async () => {
        const fx = makeModels({
          a: { variant: "ft_dense", arch, dtype },
          b: { variant: "ft_rows", arch, dtype, shardSize: 1000 },
        });
        await expectMatchesReference(fx, `
merge_method: linear
models:
  - model: a
    parameters: {weight: [0.3, 0.7]}
  - model: b
    parameters: {weight: 0.45}
`, { outShardSize: 3000 });
        await expectMatchesReference(fx, `
merge_method: passthrough
slices:
  - sources:
      - model: b
        layer_range: [0, 2]
        parameters: {scale: 0.3}
  - sources:
      - model: a
        layer_range: [1, 3]
`);
      });
    }
  }
});

describe("embeddings of different vocabulary sizes", () => {
  it("linear cuts embed_tokens and lm_head to the common top-left block (MergeKit's rectify_embed_sizes)", async () => {
    const fx = makeModels({
      big: { variant: "ft_dense", arch: { vocab: 300 } },
      small: { variant: "ft_rows", arch: { vocab: 256 } },
    });
    const { out } = await expectMatchesReference(fx, `
merge_method: linear
models:
  - model: big
    parameters: {weight: 0.4}
  - model: small
    parameters: {weight: 0.6}
`);
    const t = readTensors(out);
    expect(t.get("model.embed_tokens.weight")!.shape).toEqual([256, 64]);
    expect(t.get("lm_head.weight")!.shape).toEqual([256, 64]);
    const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg["vocab_size"]).toBe(300); // the donor's, unchanged (no tokenizer was built)
  });
});

describe("tied embeddings", () => {
  const fx = makeModels({
    tied: { variant: "ft_dense", tied: true },
    tied2: { variant: "ft_sparse", tied: true },
    untied: { variant: "ft_rows" },
  });

  it("models without lm_head: no lm_head in the output", async () => {
    const { out } = await expectMatchesReference(fx, `
merge_method: linear
models:
  - model: tied
    parameters: {weight: 0.5}
  - model: tied2
    parameters: {weight: 0.5}
`);
    expect(readTensors(out).has("lm_head.weight")).toBe(false);
  });

  for (const order of [["untied", "tied"], ["tied", "untied"]]) {
    it(`a mix (${order.join(" then ")}): lm_head is written, the tied model contributes its embeddings`, async () => {
      const { out } = await expectMatchesReference(fx, `
merge_method: linear
models:
  - model: ${order[0]}
    parameters: {weight: 0.3}
  - model: ${order[1]}
    parameters: {weight: 0.7}
`, { outShardSize: 40_000 });
      expect(readTensors(out).has("lm_head.weight")).toBe(true);
      const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
      expect(cfg["tie_word_embeddings"]).toBe(order[0] === "tied"); // the donor's config, unchanged
    });
  }

  it("passthrough from a tied model's last slice: lm_head only when that slice's model has one", async () => {
    await expectMatchesReference(fx, `
merge_method: passthrough
slices:
  - sources:
      - model: untied
        layer_range: [0, 2]
  - sources:
      - model: tied
        layer_range: [2, 4]
`);
  });
});
