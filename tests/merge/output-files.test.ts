// The files around the tensors: config.json edits, tokenizer copies, model card, no stray files.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { expectMatchesReference, makeModels } from "./harness.ts";

describe("output files", () => {
  const fx = makeModels({
    a: { variant: "ft_dense", arch: { layers: 5 } },
    b: { variant: "ft_rows", arch: { layers: 5 }, dtype: "fp16" },
    notok: { variant: "ft_sparse", arch: { layers: 5 }, tokenizer: false },
  });
  const franken = `
merge_method: passthrough
dtype: float16
slices:
  - sources:
      - model: a
        layer_range: [0, 4]
  - sources:
      - model: b
        layer_range: [1, 5]
  - sources:
      - model: a
        layer_range: [3, 5]
`;

  it("config.json is the donor's with the layer count and dtype updated, everything else untouched", async () => {
    const { out } = await expectMatchesReference(fx, franken);
    const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    const donor = JSON.parse(readFileSync(join(fx.root, "a", "config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg["num_hidden_layers"]).toBe(10);
    expect(cfg["torch_dtype"]).toBe("float16");
    for (const [k, v] of Object.entries(donor)) if (k !== "num_hidden_layers" && k !== "torch_dtype") expect(cfg[k], k).toEqual(v);
  });

  it("without dtype/out_dtype, config.json keeps the donor's dtype", async () => {
    const { out } = await expectMatchesReference(fx, `
merge_method: linear
models:
  - model: b
    parameters: {weight: 1}
  - model: a
    parameters: {weight: 1}
`);
    const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg["torch_dtype"]).toBe("float16"); // b, the first model, donates
    expect(cfg["num_hidden_layers"]).toBe(5);
  });

  it("with a base_model, the base donates config.json and the tokenizer", async () => {
    const fx2 = makeModels({
      x: { variant: "ft_dense", arch: { vocab: 300 } },
      base: { variant: "base", arch: { vocab: 300 }, tied: true },
    });
    writeFileSync(join(fx2.root, "base", "tokenizer_config.json"), '{"marker": "base"}');
    const { out } = await expectMatchesReference(fx2, `
merge_method: linear
base_model: base
models:
  - model: x
    parameters: {weight: 0.5}
  - model: base
    parameters: {weight: 0.5}
`);
    const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg["tie_word_embeddings"]).toBe(true);
    expect(readFileSync(join(out, "tokenizer_config.json"), "utf8")).toBe('{"marker": "base"}');
  });

  it("copies the donor's tokenizer and generation files, writes the card and mergekit_config.yml, nothing else", async () => {
    const { out } = await expectMatchesReference(fx, franken);
    expect(readdirSync(out).sort()).toEqual([
      "README.md", "config.json", "generation_config.json", "mergekit_config.yml", "model.safetensors",
      "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
    ]);
    for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]) {
      expect(readFileSync(join(out, f)).equals(readFileSync(join(fx.root, "a", f))), f).toBe(true);
    }
    expect(readFileSync(join(out, "mergekit_config.yml"), "utf8")).toBe(franken);
    expect(readFileSync(join(out, "README.md"), "utf8")).toContain(franken.trim());
  });

  it("a donor without tokenizer files: no tokenizer files are written", async () => {
    const out = join(tempDir(), "m");
    await runMerge(`
merge_method: linear
models:
  - model: notok
    parameters: {weight: 0.5}
  - model: a
    parameters: {weight: 0.5}
`, fx.root, out);
    expect(readdirSync(out).sort()).toEqual(["README.md", "config.json", "mergekit_config.yml", "model.safetensors"]);
  });

  it("copyTokenizer and writeModelCard off: only weights and config.json", async () => {
    const out = join(tempDir(), "m");
    await runMerge(franken, fx.root, out, { copyTokenizer: false, writeModelCard: false, outShardSize: 100_000 });
    const files = readdirSync(out).sort();
    expect(files.filter((f) => !f.endsWith(".safetensors"))).toEqual(["config.json", "model.safetensors.index.json"]);
    expect(files.filter((f) => f.endsWith(".safetensors")).length).toBeGreaterThan(1);
  });
});
