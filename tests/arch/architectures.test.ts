// Architectures as data: every listed architecture's tiny checkpoint plans and merges with the
// right tensors and the right layer count in the written config.json.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findArchitecture, knownArchitectures } from "../../src/arch/registry.ts";
import { AmalgamError } from "../../src/errors.ts";
import { ARCH_CHECKPOINTS, FALCON_NEW_DECODER, GPT2_ORIGINAL_NAMES } from "../fixtures/arch-checkpoints.ts";
import type { ArchCheckpoint } from "../fixtures/arch-checkpoints.ts";
import { tensorValues, writeModel } from "../fixtures/arch-write-model.ts";
import type { FixtureModel } from "../fixtures/arch-write-model.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { runCli } from "../../src/cli/main.ts";
import { nodeCliHost } from "../../runtimes/node/cli.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { FsOutputSink } from "../../runtimes/node/fs-sink.ts";
import { readTensors, values } from "../helpers/safetensors-read.ts";

const REQUIRED = [
  "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3",
  "phi3", "gpt2", "gpt_neox", "falcon", "starcoder2", "olmo2", "cohere",
];

function layerCount(c: ArchCheckpoint): number {
  return c.config[c.layerKey] as number;
}

function model(c: ArchCheckpoint, seed: number, edit: Partial<FixtureModel> = {}): FixtureModel {
  return { config: c.config, tensors: c.tensors, seed, ...edit };
}

function readConfig(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
}

/** Renames layer `from` to layer `to` in a tensor name of any of the fixtures' layer prefixes. */
function atLayer(name: string, from: number, to: number): string {
  return name.replace(new RegExp(`^((?:model\\.layers|transformer\\.h|gpt_neox\\.layers)\\.)${from}\\.`), `$1${to}.`);
}

describe("architecture data", () => {
  it("covers every required architecture, each with a fixture", () => {
    const known = knownArchitectures();
    for (const name of REQUIRED) {
      const c = ARCH_CHECKPOINTS[name];
      expect(c, name).toBeDefined();
      const arch = findArchitecture(c!.config);
      expect(arch, name).toBeDefined();
      expect(known).toContain(arch);
      expect(arch!.modules.map((m) => m.layerCountKey)).toEqual([c!.layerKey]);
    }
  });

  it("is found by architectures[0], by model_type when architectures is missing, and not for unknown classes", () => {
    expect(findArchitecture({ architectures: ["Qwen2ForCausalLM"], model_type: "qwen2" })!.modelType).toBe("qwen2");
    expect(findArchitecture({ model_type: "gemma2" })!.architectures).toContain("Gemma2ForCausalLM");
    expect(findArchitecture({ architectures: ["DeepseekV3ForCausalLM"], model_type: "deepseek_v3" })).toBeUndefined();
    expect(findArchitecture({})).toBeUndefined();
  });
});

describe("every architecture plans and merges", () => {
  for (const name of REQUIRED) {
    const c = ARCH_CHECKPOINTS[name]!;
    it(`${name}: linear merge keeps every tensor and the layer count`, async () => {
      const dir = tempDir();
      writeModel(join(dir, "a"), model(c, 1));
      writeModel(join(dir, "b"), model(c, 2));
      const out = join(dir, "out");
      const r = await runMerge(`merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 0.25}\n  - model: b\n    parameters: {weight: 0.75}\n`, dir, out);
      expect(r.warnings).toEqual([]);
      const got = readTensors(out);
      expect([...got.keys()].sort()).toEqual(c.tensors.map((x) => x.name).sort());
      for (const x of c.tensors) expect(got.get(x.name)!.shape, x.name).toEqual(x.shape);
      expect(readConfig(out)[c.layerKey]).toBe(layerCount(c));
      // spot-check the values: 0.25 a + 0.75 b
      const probe = c.tensors[c.tensors.length - 1]!;
      const a = tensorValues(model(c, 1), probe);
      const b = tensorValues(model(c, 2), probe);
      const v = values(got.get(probe.name)!);
      for (let i = 0; i < v.length; i++) expect(v[i]).toBeCloseTo(0.25 * a[i]! + 0.75 * b[i]!, 6);
    });

    it(`${name}: a passthrough frankenmerge renumbers layers and updates ${c.layerKey}`, async () => {
      const dir = tempDir();
      writeModel(join(dir, "a"), model(c, 1));
      writeModel(join(dir, "b"), model(c, 2));
      const out = join(dir, "out");
      const n = layerCount(c);
      await runMerge(`merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, ${n}]\n  - sources:\n      - model: b\n        layer_range: [${n - 1}, ${n}]\n`, dir, out);
      expect(readConfig(out)[c.layerKey]).toBe(n + 1);
      const got = readTensors(out);
      // output layer n is b's last layer, tensor for tensor
      const last = c.tensors.filter((x) => atLayer(x.name, n - 1, n) !== x.name);
      expect(last.length).toBeGreaterThan(0);
      for (const x of last) {
        const o = got.get(atLayer(x.name, n - 1, n));
        expect(o, atLayer(x.name, n - 1, n)).toBeDefined();
        expect(Array.from(values(o!))).toEqual(Array.from(tensorValues(model(c, 2), x)));
      }
      expect(got.size).toBe(c.tensors.length + last.length);
    });
  }
});

describe("layouts", () => {
  it("falcon's new decoder architecture (ln_attn, ln_mlp, an untied head) merges", async () => {
    const dir = tempDir();
    writeModel(join(dir, "a"), model(FALCON_NEW_DECODER, 1));
    writeModel(join(dir, "b"), model(FALCON_NEW_DECODER, 2));
    const r = await runMerge("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 1}\n  - model: b\n    parameters: {weight: 1}\n", dir, join(dir, "out"));
    expect(r.warnings).toEqual([]);
    expect([...readTensors(join(dir, "out")).keys()].sort()).toEqual(FALCON_NEW_DECODER.tensors.map((x) => x.name).sort());
  });

  it("GPT-2's original names are read through aliases and written under the Transformers names", async () => {
    const dir = tempDir();
    writeModel(join(dir, "orig"), model(GPT2_ORIGINAL_NAMES, 1));
    writeModel(join(dir, "orig2"), model(GPT2_ORIGINAL_NAMES, 2));
    const out = join(dir, "out");
    const r = await runMerge("merge_method: linear\nmodels:\n  - model: orig\n    parameters: {weight: 1}\n  - model: orig2\n    parameters: {weight: 1}\n", dir, out);
    expect(r.warnings).toEqual([]);
    const masks = ["transformer.h.0.attn.bias", "transformer.h.1.attn.bias"];
    expect([...readTensors(out).keys()].sort()).toEqual([...ARCH_CHECKPOINTS["gpt2"]!.tensors.map((x) => x.name), ...masks].sort());
  });

  it("an optional weight only some inputs have is merged from those, with a warning", async () => {
    const dir = tempDir();
    writeModel(join(dir, "orig"), model(GPT2_ORIGINAL_NAMES, 1));
    writeModel(join(dir, "hf"), model(ARCH_CHECKPOINTS["gpt2"]!, 2));
    const out = join(dir, "out");
    const r = await runMerge("merge_method: linear\nmodels:\n  - model: hf\n    parameters: {weight: 0.5}\n  - model: orig\n    parameters: {weight: 0.5}\n", dir, out);
    expect(r.warnings).toEqual([`hf lacks 2 optional tensor(s) that other inputs have ("transformer.h.0.attn.bias", "transformer.h.1.attn.bias"); those are merged from the inputs that have them`]);
    const mask = GPT2_ORIGINAL_NAMES.tensors.find((x) => x.name === "h.1.attn.bias")!;
    expect(Array.from(values(readTensors(out).get("transformer.h.1.attn.bias")!))).toEqual(Array.from(tensorValues(model(GPT2_ORIGINAL_NAMES, 1), mask)));
  });

  it("a model with lm_head and a tied one: lm_head is written, the tied model contributes its embeddings", async () => {
    const c = ARCH_CHECKPOINTS["llama"]!;
    const dir = tempDir();
    writeModel(join(dir, "untied"), model(c, 1));
    const tiedTensors = c.tensors.filter((x) => x.name !== "lm_head.weight");
    writeModel(join(dir, "tied"), model(c, 2, { tensors: tiedTensors, config: { ...c.config, tie_word_embeddings: true } }));
    for (const order of [["untied", "tied"], ["tied", "untied"]] as const) {
      const out = join(dir, `out-${order[0]}`);
      const r = await runMerge(`merge_method: linear\nmodels:\n  - model: ${order[0]}\n    parameters: {weight: 0.5}\n  - model: ${order[1]}\n    parameters: {weight: 0.5}\n`, dir, out);
      expect(r.warnings).toEqual([]);
      const head = values(readTensors(out).get("lm_head.weight")!);
      const a = tensorValues(model(c, 1), c.tensors.find((x) => x.name === "lm_head.weight")!);
      const b = tensorValues(model(c, 2), c.tensors.find((x) => x.name === "model.embed_tokens.weight")!);
      for (let i = 0; i < head.length; i++) expect(head[i]).toBeCloseTo(0.5 * a[i]! + 0.5 * b[i]!, 6);
      expect(readConfig(out)["tie_word_embeddings"]).toBe(order[0] === "tied"); // the donor's, unchanged
    }
  });

  it("two tied models: no lm_head in the output", async () => {
    const c = ARCH_CHECKPOINTS["gemma"]!;
    const dir = tempDir();
    writeModel(join(dir, "a"), model(c, 1));
    writeModel(join(dir, "b"), model(c, 2));
    await runMerge("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 1}\n  - model: b\n    parameters: {weight: 1}\n", dir, join(dir, "out"));
    expect(readTensors(join(dir, "out")).has("lm_head.weight")).toBe(false);
  });

  it("a missing required weight names the tensor and the model", async () => {
    const c = ARCH_CHECKPOINTS["mistral"]!;
    const dir = tempDir();
    writeModel(join(dir, "a"), model(c, 1));
    writeModel(join(dir, "b"), model(c, 2, { tensors: c.tensors.filter((x) => x.name !== "model.layers.1.mlp.up_proj.weight") }));
    const err = await runMerge("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 1}\n  - model: b\n    parameters: {weight: 1}\n", dir, join(dir, "out")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmalgamError);
    expect((err as AmalgamError).code).toBe("E_TENSOR_MISSING");
    expect((err as AmalgamError).message).toBe(`tensor "model.layers.1.mlp.up_proj.weight" is needed for output "model.layers.1.mlp.up_proj.weight" but is not present in model b`);
  });

  it("tensors a known layout does not cover are reported, not merged", async () => {
    const c = ARCH_CHECKPOINTS["qwen2"]!;
    const dir = tempDir();
    const extra = [{ name: "model.layers.0.self_attn.rotary_emb.inv_freq", shape: [2] }, { name: "score.weight", shape: [2, 8] }];
    writeModel(join(dir, "a"), model(c, 1, { tensors: [...c.tensors, ...extra] }));
    const r = await runMerge("merge_method: passthrough\nmodels:\n  - model: a\n", dir, join(dir, "out"));
    expect(r.warnings).toEqual([`a: 2 tensor(s) are not part of the Qwen2ForCausalLM layout (src/arch/data/qwen2.json) and are not merged: "model.layers.0.self_attn.rotary_emb.inv_freq", "score.weight"`]);
    expect(readTensors(join(dir, "out")).size).toBe(c.tensors.length);
  });
});

describe("architectures that disagree", () => {
  const yaml = "merge_method: linear\nmodels:\n  - model: llama\n    parameters: {weight: 0.5}\n  - model: mistral\n    parameters: {weight: 0.5}\n";
  const setup = () => {
    const dir = tempDir();
    writeModel(join(dir, "llama"), model(ARCH_CHECKPOINTS["llama"]!, 1, { config: { ...ARCH_CHECKPOINTS["llama"]!.config, num_hidden_layers: 2 }, tensors: ARCH_CHECKPOINTS["mistral"]!.tensors }));
    writeModel(join(dir, "mistral"), model(ARCH_CHECKPOINTS["mistral"]!, 2));
    return dir;
  };

  it("are an error naming each model's architecture", async () => {
    const dir = setup();
    const err = await runMerge(yaml, dir, join(dir, "out")).catch((e: unknown) => e);
    expect((err as AmalgamError).code).toBe("E_ARCH_MISMATCH");
    expect((err as AmalgamError).message).toBe("the models have different architectures (llama: LlamaForCausalLM (llama), mistral: MistralForCausalLM (mistral)); pass --allow-crimes to merge them anyway");
  });

  it("merge with allowCrimes, read with the donor's layout, and say so", async () => {
    const dir = setup();
    const r = await runMerge(yaml, dir, join(dir, "out"), { allowCrimes: true });
    expect(r.warnings).toEqual(["merging different architectures (llama: LlamaForCausalLM (llama), mistral: MistralForCausalLM (mistral)) with --allow-crimes; every model is read with the LlamaForCausalLM layout of llama"]);
    expect(readConfig(join(dir, "out"))["architectures"]).toEqual(["LlamaForCausalLM"]);
  });

  it("the CLI refuses them without --allow-crimes and merges them with it", async () => {
    const dir = setup();
    const run = async (flags: string[]) => {
      let stderr = "";
      const host = nodeCliHost({
        resolveModel: fsResolver(dir), readTextFile: async () => yaml, createSink: FsOutputSink.create,
        stdout: () => {}, stderr: (t) => { stderr += t; }, stderrIsTTY: false, defaultThreads: 1,
      });
      return { code: await runCli(["merge", "c.yml", join(dir, `out${flags.length}`), ...flags], host), stderr };
    };
    const refused = await run([]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("error [E_ARCH_MISMATCH]: the models have different architectures");
    const allowed = await run(["--allow-crimes"]);
    expect(allowed.code).toBe(0);
    expect(allowed.stderr).toContain("warning: merging different architectures");
  });

  it("an unknown architecture falls back to names for every model", async () => {
    const dir = tempDir();
    const c = ARCH_CHECKPOINTS["llama"]!;
    writeModel(join(dir, "known"), model(c, 1));
    writeModel(join(dir, "odd"), model(c, 2, { config: { ...c.config, architectures: ["MyLlamaForCausalLM"], model_type: "my_llama" } }));
    const r = await runMerge("merge_method: linear\nmodels:\n  - model: known\n    parameters: {weight: 0.5}\n  - model: odd\n    parameters: {weight: 0.5}\n", dir, join(dir, "out"));
    expect(r.warnings).toEqual(["no architecture data for MyLlamaForCausalLM (odd); layers are inferred from tensor names"]);
    expect([...readTensors(join(dir, "out")).keys()].sort()).toEqual(c.tensors.map((x) => x.name).sort());
    expect(readConfig(join(dir, "out"))["num_hidden_layers"]).toBe(3);
  });
});
