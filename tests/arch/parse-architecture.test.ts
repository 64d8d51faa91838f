// The layout format: shorthand names, flags, template variables, and errors that name the field.
import { describe, expect, it } from "vitest";
import { expandTemplate, parseArchitecture } from "../../src/arch/parse-architecture.ts";
import { AmalgamError } from "../../src/errors.ts";

const minimal = {
  model_type: "toy",
  architectures: ["ToyForCausalLM"],
  num_layers_config_key: "n_layers",
  pre_weights: [{ name: "embed.weight", is_embed: true }],
  layer_templates: { weights: ["blocks.${layer_index}.w", { name: "blocks.${layer_index}.b", optional: true, aliases: ["b.${layer_index}"] }] },
  post_weights: ["norm.weight", { name: "head.weight", is_embed: true, optional: true, tied_names: ["embed.weight"] }],
};

function errorOf(raw: unknown): AmalgamError {
  try {
    parseArchitecture(raw, "toy.json");
  } catch (e) {
    return e as AmalgamError;
  }
  throw new Error("no error");
}

describe("parseArchitecture", () => {
  it("reads names, flags, aliases and tied names", () => {
    const arch = parseArchitecture(minimal, "toy.json");
    expect(arch.modules.map((m) => m.name)).toEqual(["default"]);
    expect(arch.vocabSizeKey).toBe("vocab_size");
    const a = arch.modules[0]!;
    expect(a.layerCountKey).toBe("n_layers");
    expect(a.preWeights).toEqual([{ name: "embed.weight", isEmbed: true, optional: false, aliases: [], tiedNames: [] }]);
    expect(a.layerWeights[1]).toEqual({ name: "blocks.${layer_index}.b", isEmbed: false, optional: true, aliases: ["b.${layer_index}"], tiedNames: [] });
    expect(a.postWeights[1]!.tiedNames).toEqual(["embed.weight"]);
    expect(expandTemplate(a.layerWeights[0]!.name, 7)).toBe("blocks.7.w");
  });

  it("expands experts only where the layout declares their count key", () => {
    const moe = { ...minimal, num_experts_config_key: "n_experts", layer_templates: { weights: ["blocks.${layer_index}.experts.${expert_index}.w"] } };
    expect(expandTemplate(parseArchitecture(moe, "toy.json").modules[0]!.layerWeights[0]!.name, 2, 3)).toBe("blocks.2.experts.3.w");
    expect(errorOf({ ...moe, num_experts_config_key: undefined }).message).toBe(
      `toy.json: layer_templates.weights[0].name: expected only \${layer_index} in "blocks.\${layer_index}.experts.\${expert_index}.w" (found \${expert_index})`);
  });

  it("reads modular layouts: modules with their own weights and dotted config keys", () => {
    const arch = parseArchitecture({
      kind: "modular", model_type: "vlm", architectures: ["VlmForConditionalGeneration"], vocab_size_config_key: "text_config.vocab_size",
      modules: {
        vision: { num_layers_config_key: "vision_config.depth", layer_templates: { weights: ["v.${layer_index}.w"] } },
        projector: { pre_weights: ["proj.weight"] },
        text: { num_layers_config_key: "text_config.n", pre_weights: [{ name: "t.embed", is_embed: true }], layer_templates: { weights: ["t.${layer_index}.w"] } },
      },
    }, "vlm.json");
    expect(arch.modules.map((m) => [m.name, m.layerCountKey, m.preWeights.length, m.layerWeights.length])).toEqual([
      ["vision", "vision_config.depth", 0, 1], ["projector", undefined, 1, 0], ["text", "text_config.n", 1, 1],
    ]);
    expect(arch.vocabSizeKey).toBe("text_config.vocab_size");
    expect(errorOf({ kind: "modular", model_type: "x", architectures: ["X"], modules: { a: { layer_templates: { weights: ["a.${layer_index}"] } } } }).message)
      .toBe("toy.json: modules.a.num_layers_config_key: expected a config.json key (the module has layer weights)");
    expect(errorOf({ kind: "modular", model_type: "x", architectures: ["X"], modules: { a: { pre_weights: ["w"] }, b: { pre_weights: ["w"] } } }).message)
      .toBe(`toy.json: weight "w": expected each weight listed once`);
    expect(errorOf({ ...minimal, kind: "single" }).message).toBe(`toy.json: kind: expected "modular" (or no "kind" for a single-module layout)`);
  });

  it.each([
    [{ ...minimal, extra: 1 }, "toy.json: extra: expected one of model_type, architectures, vocab_size_config_key, num_layers_config_key, num_experts_config_key, pre_weights, layer_templates, post_weights"],
    [{ ...minimal, architectures: [] }, "toy.json: architectures: expected at least one architecture class name"],
    [{ ...minimal, num_layers_config_key: 3 }, "toy.json: num_layers_config_key: expected a config.json key"],
    [{ ...minimal, layer_templates: { weights: ["blocks.w"] } }, "toy.json: layer_templates.weights[0].name: expected a template containing ${layer_index} (got \"blocks.w\")"],
    [{ ...minimal, pre_weights: ["x.${layer_index}"] }, "toy.json: pre_weights[0].name: expected no template variables in \"x.${layer_index}\" (found ${layer_index})"],
    [{ ...minimal, post_weights: [{ name: "n", optional: "yes" }] }, "toy.json: post_weights[0].optional: expected true or false"],
    [{ ...minimal, post_weights: [{ name: "n", tied: ["x"] }] }, "toy.json: post_weights[0].tied: expected one of name, is_embed, optional, aliases, tied_names"],
    [{ ...minimal, post_weights: ["embed.weight"] }, "toy.json: weight \"embed.weight\": expected each weight listed once"],
  ])("rejects bad layouts with the field named (%#)", (raw, message) => {
    const e = errorOf(raw);
    expect(e.code).toBe("E_ARCH");
    expect(e.message).toBe(message);
  });
});
