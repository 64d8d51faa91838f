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
    const a = parseArchitecture(minimal, "toy.json");
    expect(a.layerCountKey).toBe("n_layers");
    expect(a.preWeights).toEqual([{ name: "embed.weight", isEmbed: true, optional: false, aliases: [], tiedNames: [] }]);
    expect(a.layerWeights[1]).toEqual({ name: "blocks.${layer_index}.b", isEmbed: false, optional: true, aliases: ["b.${layer_index}"], tiedNames: [] });
    expect(a.postWeights[1]!.tiedNames).toEqual(["embed.weight"]);
    expect(expandTemplate(a.layerWeights[0]!.name, 7)).toBe("blocks.7.w");
  });

  it("expands experts only where the layout declares their count key", () => {
    const moe = { ...minimal, num_experts_config_key: "n_experts", layer_templates: { weights: ["blocks.${layer_index}.experts.${expert_index}.w"] } };
    expect(expandTemplate(parseArchitecture(moe, "toy.json").layerWeights[0]!.name, 2, 3)).toBe("blocks.2.experts.3.w");
    expect(errorOf({ ...moe, num_experts_config_key: undefined }).message).toBe(
      `toy.json: layer_templates.weights[0].name: expected only \${layer_index} in "blocks.\${layer_index}.experts.\${expert_index}.w" (found \${expert_index})`);
  });

  it.each([
    [{ ...minimal, extra: 1 }, "toy.json: extra: expected one of model_type, architectures, num_layers_config_key, num_experts_config_key, pre_weights, layer_templates, post_weights"],
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
