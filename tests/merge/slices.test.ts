// Slices: per-slice parameters, t restarting per slice, precedence, layer renumbering,
// frankenmerges with repeated layers, and which slice donates embeddings and lm_head.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectMatchesReference, makeModels } from "./harness.ts";

const arch = { layers: 6, hidden: 32, intermediate: 48, vocab: 64 };

describe("slices", () => {
  const fx = makeModels({
    a: { variant: "ft_dense", arch },
    b: { variant: "ft_sparse", arch },
    c: { variant: "ft_rows", arch, dtype: "fp32" },
    base: { variant: "base", arch },
  });

  it("per-slice gradients restart in every slice (t = k / (len - 1) within the slice)", async () => {
    await expectMatchesReference(fx, `
merge_method: linear
dtype: float32
slices:
  - sources:
      - model: a
        layer_range: [0, 3]
      - model: b
        layer_range: [0, 3]
    parameters:
      weight: [0.1, 0.9]
  - sources:
      - model: a
        layer_range: [3, 6]
      - model: b
        layer_range: [3, 6]
    parameters:
      weight: [0.8, 0.3, 0.6]
  - sources:
      - model: a
        layer_range: [5, 6]
      - model: b
        layer_range: [5, 6]
    parameters:
      weight: [0.2, 0.7]
`);
  });

  it("precedence: source > slice > top level, and a filter miss falls through to the next level", async () => {
    await expectMatchesReference(fx, `
merge_method: linear
parameters:
  weight:
    - filter: mlp
      value: 0.9
    - value: 0.05
slices:
  - sources:
      - model: a
        layer_range: [0, 3]
        parameters:
          weight:
            - filter: q_proj
              value: 0.77
      - model: b
        layer_range: [0, 3]
    parameters:
      weight:
        - filter: k_proj
          value: 0.31
        - filter: layernorm
          value: [0.2, 0.6]
  - sources:
      - model: a
        layer_range: [3, 6]
      - model: b
        layer_range: [3, 6]
        parameters:
          weight: 0.66
`);
  });

  it("different layer ranges per source: per-model filters match the input name, global ones the output name", async () => {
    await expectMatchesReference(fx, `
merge_method: linear
dtype: bfloat16
slices:
  - sources:
      - model: a
        layer_range: [0, 2]
        parameters:
          weight:
            - filter: layers.0.
              value: 0.9
            - value: 0.4
      - model: b
        layer_range: [3, 5]
        parameters:
          weight:
            - filter: layers.3.
              value: 0.15
            - filter: layers.0.
              value: 0.99
            - value: 0.6
    parameters:
      normalize:
        - filter: layers.1.
          value: false
        - value: true
`);
  });

  it("passthrough frankenmerge with repeated layers and per-slice scale", async () => {
    await expectMatchesReference(fx, `
merge_method: passthrough
slices:
  - sources:
      - model: a
        layer_range: [0, 2]
  - sources:
      - model: a
        layer_range: [0, 2]
        parameters:
          scale:
            - filter: o_proj
              value: 0.5
            - filter: down_proj
              value: [0.25, 2.0]
  - sources:
      - model: a
        layer_range: [1, 4]
    parameters:
      scale: [1.5, 0.75, 1.0]
  - sources:
      - model: b
        layer_range: [5, 6]
`);
  });

  it("embeddings come from the first slice, norm and lm_head from the last (a zero-length last slice picks the donor)", async () => {
    await expectMatchesReference(fx, `
merge_method: passthrough
dtype: bfloat16
slices:
  - sources:
      - model: b
        layer_range: [0, 4]
  - sources:
      - model: a
        layer_range: [2, 6]
  - sources:
      - model: base
        layer_range: [6, 6]
`);
  });

  it("a zero-length last slice under linear merges the post weights of its sources", async () => {
    await expectMatchesReference(fx, `
merge_method: linear
slices:
  - sources:
      - model: a
        layer_range: [0, 6]
        parameters: {weight: 0.5}
      - model: b
        layer_range: [0, 6]
        parameters: {weight: 0.5}
  - sources:
      - model: base
        layer_range: [0, 0]
        parameters: {weight: 0.25}
      - model: c
        layer_range: [0, 0]
        parameters: {weight: [0.75, 0.1]}
`);
  });

  it("a passthrough frankenmerge with a top-level base_model outside the slices: the base only donates config.json", async () => {
    const fx2 = makeModels({ x: { variant: "ft_dense", arch }, y: { variant: "ft_rows", arch }, donor: { variant: "base", arch, tied: true } });
    const { out } = await expectMatchesReference(fx2, `
merge_method: passthrough
base_model: donor
slices:
  - sources:
      - model: x
        layer_range: [0, 3]
  - sources:
      - model: y
        layer_range: [2, 6]
`);
    const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg["tie_word_embeddings"]).toBe(true);
    expect(cfg["num_hidden_layers"]).toBe(7);
  });

  it("single-layer slices use t = 1", async () => {
    await expectMatchesReference(fx, `
merge_method: linear
slices:
  - sources:
      - model: a
        layer_range: [0, 1]
        parameters: {weight: [0.1, 0.5, 0.9]}
      - model: b
        layer_range: [4, 5]
        parameters: {weight: 0.3}
  - sources:
      - model: a
        layer_range: [1, 6]
        parameters: {weight: [0.1, 0.5, 0.9]}
      - model: b
        layer_range: [1, 6]
        parameters: {weight: 0.3}
`);
  });
});
