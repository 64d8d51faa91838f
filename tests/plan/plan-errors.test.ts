// Errors found while planning (they need the models): each names the config place and the model.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { AmalgamError } from "../../src/errors.ts";
import { buildPlan } from "../../src/plan/build-plan.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { makeModels } from "../merge/harness.ts";

const fx = makeModels({
  a: { variant: "base", arch: { layers: 2 } },
  b: { variant: "ft_dense", arch: { layers: 3 } },
  c: { variant: "ft_rows", arch: { layers: 2 } },
});
mkdirSync(join(fx.root, "empty"));
mkdirSync(join(fx.root, "bin"));
writeFileSync(join(fx.root, "bin", "config.json"), "{}");
writeFileSync(join(fx.root, "bin", "pytorch_model.bin"), "");
mkdirSync(join(fx.root, "nosafetensors"));
writeFileSync(join(fx.root, "nosafetensors", "config.json"), "{}");

async function planError(yaml: string): Promise<AmalgamError> {
  try {
    await buildPlan(parseMergeConfig(yaml, "cfg.yml"), { resolveModel: fsResolver(fx.root) });
  } catch (e) {
    expect(e).toBeInstanceOf(AmalgamError);
    return e as AmalgamError;
  }
  throw new Error("expected an error");
}

describe("plan errors", () => {
  it("an unknown merge method, with the accepted ones", async () => {
    const e = await planError("merge_method: lineer\nmodels:\n  - model: a\n    parameters: {weight: 1}\n");
    expect(e.code).toBe("E_UNKNOWN_METHOD");
    expect(e.message).toMatch(/^merge_method \(line 1, column 15\): unknown merge method "lineer"; expected one of: linear, passthrough/);
  });

  it("a model directory that does not exist", async () => {
    const e = await planError("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 1}\n  - model: nope\n    parameters: {weight: 1}\n");
    expect(e.code).toBe("E_MODEL_NOT_FOUND");
    expect(e.message).toMatch(/^models\[1\] \(line 5, column 5\): model "nope": no directory at .*nope/);
  });

  it("a directory without config.json, one without weights, one with an empty .bin", async () => {
    const one = (m: string) => planError(`merge_method: passthrough\nslices:\n  - sources:\n      - model: ${m}\n        layer_range: [0, 1]\n`);
    expect((await one("empty")).message).toBe("empty: no config.json (is this a Hugging Face model directory?)");
    expect((await one("nosafetensors")).message).toBe("nosafetensors: no model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json");
    // .bin checkpoints are read (tests/companion/torch-checkpoint.test.ts); an empty file is not one
    const bin = await one("bin");
    expect(bin.code).toBe("E_ZIP");
    expect(bin.message).toMatch(/^bin\/pytorch_model\.bin: not a PyTorch checkpoint/);
  });

  it("layer_range beyond the model's layers", async () => {
    const e = await planError("merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, 5]\n");
    expect(e.code).toBe("E_CONFIG");
    expect(e.message).toBe("slices[0].sources[0] (line 4, column 9): layer_range [0, 5] exceeds the 2 layers of a");
  });

  it("a slice whose base_model is not among its sources, for a method that uses the base", async () => {
    const e = await planError("merge_method: task_arithmetic\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, 2]\n        parameters: {weight: 1}\n    base_model: c\n");
    expect(e.code).toBe("E_CONFIG");
    expect(e.message).toBe("slices[0] (line 3, column 5): base model c is not among the slice's sources; add it with the same layer_range");
  });

  it("a base_model missing from a slice is accepted where the method does not use the base (as MergeKit does)", async () => {
    for (const yaml of [
      "merge_method: linear\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, 2]\n        parameters: {weight: 1}\n    base_model: c\n",
      "merge_method: passthrough\nbase_model: c\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, 1]\n  - sources:\n      - model: b\n        layer_range: [1, 3]\n",
    ]) {
      const plan = await buildPlan(parseMergeConfig(yaml, "cfg.yml"), { resolveModel: fsResolver(fx.root) });
      expect(plan.tensors.every((t) => t.sources.every((s) => s.model.ref.text !== "c"))).toBe(true);
    }
  });

  it("slice sources of different lengths", async () => {
    const e = await planError("merge_method: linear\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, 2]\n      - model: b\n        layer_range: [0, 3]\n");
    expect(e.message).toBe("slices[0] (line 3, column 5): all sources of a slice need the same number of layers (a has 2, b has 3)");
  });

  it("models: with different layer counts is refused, as MergeKit does (it used to merge only the first model's layers)", async () => {
    const e = await planError("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 1}\n  - model: b\n    parameters: {weight: 1}\n");
    expect(e.code).toBe("E_CONFIG");
    expect(e.message).toBe("models: all sources of a slice need the same number of layers (a has 2, b has 3)");
  });

  it("a required per-model parameter that no level sets", async () => {
    const e = await planError("merge_method: linear\nmodels:\n  - model: a\n  - model: c\n    parameters: {weight: 1}\n");
    expect(e.message).toBe('parameter "weight" is required but not set for model a (models[0] (line 3, column 5)), tensor "model.embed_tokens.weight"');
  });

  it("a filter that matches nothing leaves a required parameter unset", async () => {
    const e = await planError("merge_method: linear\nmodels:\n  - model: a\n    parameters:\n      weight:\n        - filter: mlp\n          value: 1\n  - model: c\n    parameters: {weight: 1}\n");
    expect(e.message).toMatch(/^parameter "weight" is required but not set for model a \(models\[0\] \(line 3, column 5\)\), tensor "model\.embed_tokens\.weight"/);
  });

  it("passthrough with two models", async () => {
    const e = await planError("merge_method: passthrough\nmodels:\n  - model: a\n  - model: c\n");
    expect(e.code).toBe("E_METHOD");
    expect(e.message).toBe('tensor "model.embed_tokens.weight": passthrough takes exactly one input, got 2 (a, c)');
  });
});

describe("a failed plan closes the model files it opened", () => {
  function countingResolver() {
    const closed: string[] = [];
    const base = fsResolver(fx.root);
    const resolve = async (ref: string) => {
      const dir = await base(ref);
      return Object.assign(Object.create(Object.getPrototypeOf(dir) as object) as typeof dir, dir, {
        close: async () => { closed.push(ref); await dir.close?.(); },
      });
    };
    return { resolve, closed };
  }

  it("when the config is wrong for the models (layer_range beyond the model)", async () => {
    const { resolve, closed } = countingResolver();
    const cfg = parseMergeConfig("merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, 1]\n  - sources:\n      - model: b\n        layer_range: [0, 9]\n", "cfg.yml");
    await expect(buildPlan(cfg, { resolveModel: resolve })).rejects.toThrow(/exceeds the 3 layers of b/);
    expect(closed.sort()).toEqual(["a", "b"]);
  });

  it("when a later model cannot be read", async () => {
    const { resolve, closed } = countingResolver();
    const cfg = parseMergeConfig("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 1}\n  - model: nosafetensors\n    parameters: {weight: 1}\n", "cfg.yml");
    await expect(buildPlan(cfg, { resolveModel: resolve })).rejects.toThrow(/no model.safetensors/);
    expect(closed.sort()).toEqual(["a", "nosafetensors"]);
  });
});
