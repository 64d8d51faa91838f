// Multi-module models (a vision tower, a projector and a text decoder): `models:` merges every
// module, `modules:` gives each module its own models or slices and parameters, and each module's
// layer count is written under its own config.json key.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findArchitecture } from "../../src/arch/registry.ts";
import { AmalgamError } from "../../src/errors.ts";
import { tinyLlava } from "../fixtures/arch-checkpoints.ts";
import { wordLevelJson } from "../fixtures/arch-tokenizer-json.ts";
import { tensorValues, writeModel } from "../fixtures/arch-write-model.ts";
import type { FixtureModel } from "../fixtures/arch-write-model.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { readTensors, values } from "../helpers/safetensors-read.ts";

function model(seed: number, opts: Parameters<typeof tinyLlava>[0] = {}): FixtureModel {
  const c = tinyLlava(opts);
  return { config: c.config, tensors: c.tensors, seed };
}

function setup(): string {
  const dir = tempDir();
  writeModel(join(dir, "a"), model(1));
  writeModel(join(dir, "b"), model(2));
  return dir;
}

const cfgOf = (out: string) => JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as { text_config: Record<string, unknown>; vision_config: Record<string, unknown> };
const valuesOf = (seed: number, name: string, opts: Parameters<typeof tinyLlava>[0] = {}) => {
  const m = model(seed, opts);
  return Array.from(tensorValues(m, m.tensors.find((x) => x.name === name)!));
};

describe("multi-module models", () => {
  it("LLaVA's layout has three modules with nested layer-count keys", () => {
    const arch = findArchitecture(tinyLlava().config)!;
    expect(arch.modules.map((m) => [m.name, m.layerCountKey])).toEqual([
      ["vision_tower", "vision_config.num_hidden_layers"], ["multi_modal_projector", undefined], ["text_decoder", "text_config.num_hidden_layers"],
    ]);
    expect(arch.vocabSizeKey).toBe("text_config.vocab_size");
  });

  it("models: merges every module", async () => {
    const dir = setup();
    const out = join(dir, "out");
    const r = await runMerge("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 0.5}\n  - model: b\n    parameters: {weight: 0.5}\n", dir, out);
    expect(r.warnings).toEqual([]);
    expect([...readTensors(out).keys()].sort()).toEqual(tinyLlava().tensors.map((x) => x.name).sort());
    expect(r.plan.layerCounts).toEqual([
      { module: "vision_tower", key: "vision_config.num_hidden_layers", count: 2 },
      { module: "multi_modal_projector", key: undefined, count: 0 },
      { module: "text_decoder", key: "text_config.num_hidden_layers", count: 2 },
    ]);
  });

  it("modules: each module has its own slices, models and parameters; layer counts go to their keys", async () => {
    const dir = setup();
    const out = join(dir, "out");
    await runMerge(`merge_method: linear
parameters:
  weight: 1
modules:
  text_decoder:
    slices:
      - sources:
          - model: a
            layer_range: [0, 2]
      - sources:
          - model: b
            layer_range: [1, 2]
  vision_tower:
    models:
      - model: a
      - model: b
    parameters:
      weight: 0.5
  multi_modal_projector:
    models:
      - model: b
`, dir, out);
    const cfg = cfgOf(out);
    expect(cfg.text_config["num_hidden_layers"]).toBe(3);
    expect(cfg.vision_config["num_hidden_layers"]).toBe(2);
    const got = readTensors(out);
    expect(got.has("language_model.model.layers.2.mlp.up_proj.weight")).toBe(true);
    expect(Array.from(values(got.get("language_model.model.layers.2.mlp.up_proj.weight")!))).toEqual(valuesOf(2, "language_model.model.layers.1.mlp.up_proj.weight"));
    // the text decoder's embeddings come from its first slice (a), norm and head from its last (b)
    expect(Array.from(values(got.get("language_model.model.embed_tokens.weight")!))).toEqual(valuesOf(1, "language_model.model.embed_tokens.weight"));
    expect(Array.from(values(got.get("language_model.lm_head.weight")!))).toEqual(valuesOf(2, "language_model.lm_head.weight"));
    expect(Array.from(values(got.get("multi_modal_projector.linear_2.weight")!))).toEqual(valuesOf(2, "multi_modal_projector.linear_2.weight"));
    // vision: the module's weight 0.5 over the top-level 1: (0.5 a + 0.5 b) / 1
    const a = valuesOf(1, "vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight");
    const b = valuesOf(2, "vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight");
    const v = values(got.get("vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight")!);
    for (let i = 0; i < v.length; i++) expect(v[i]).toBeCloseTo(0.5 * a[i]! + 0.5 * b[i]!, 6);
  });

  it("reads the later naming through aliases and writes the classic names", async () => {
    const dir = tempDir();
    writeModel(join(dir, "a"), model(1, { newNames: true }));
    writeModel(join(dir, "b"), model(2));
    const out = join(dir, "out");
    const r = await runMerge("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 1}\n  - model: b\n    parameters: {weight: 0}\n", dir, out);
    expect(r.warnings).toEqual([]);
    const got = readTensors(out);
    expect([...got.keys()].sort()).toEqual(tinyLlava().tensors.map((x) => x.name).sort());
    expect(Array.from(values(got.get("language_model.lm_head.weight")!))).toEqual(valuesOf(1, "lm_head.weight", { newNames: true }));
  });

  it("vocabulary merging writes the text decoder's vocab_size key", async () => {
    const dir = tempDir();
    const tok = wordLevelJson(Array.from({ length: 24 }, (_, i) => `w${i}`));
    for (const [name, seed] of [["a", 1], ["b", 2]] as const) writeModel(join(dir, name), { ...model(seed), files: { "tokenizer.json": tok } });
    const out = join(dir, "out");
    await runMerge("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 1}\n  - model: b\n    parameters: {weight: 1}\ntokenizer:\n  source: union\n  pad_to_multiple_of: 32\n", dir, out);
    expect(cfgOf(out).text_config["vocab_size"]).toBe(32);
    expect(readTensors(out).get("language_model.model.embed_tokens.weight")!.shape).toEqual([32, 8]);
    expect(readTensors(out).get("vision_tower.vision_model.embeddings.position_embedding.weight")!.shape).toEqual([5, 8]);
  });

  it.each([
    ["slices:\n  - sources:\n      - model: a\n        layer_range: [0, 2]\n", `test.yml: LlavaForConditionalGeneration has several modules (vision_tower, multi_modal_projector, text_decoder); use the "modules:" syntax instead of "slices:"`],
    ["modules:\n  text_decoder:\n    models:\n      - model: a\n", `test.yml: modules: no entry for module "vision_tower" of LlavaForConditionalGeneration (its modules: vision_tower, multi_modal_projector, text_decoder)`],
    ["modules:\n  decoder:\n    models:\n      - model: a\n", `modules.decoder: LlavaForConditionalGeneration has no module "decoder" (its modules: vision_tower, multi_modal_projector, text_decoder)`],
  ])("config errors name the modules (%#)", async (body, message) => {
    const dir = setup();
    const err = await runMerge(`merge_method: passthrough\n${body}`, dir, join(dir, "out")).catch((e: unknown) => e);
    expect((err as AmalgamError).code).toBe("E_CONFIG");
    expect((err as AmalgamError).message).toBe(message);
  });
});
