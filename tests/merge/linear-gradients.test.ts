// linear with gradients and filters on `weight` (and `normalize`), bit for bit against the torch reference.
import { describe, it } from "vitest";
import { expectMatchesReference, makeModels } from "./harness.ts";
import type { Fixture } from "./harness.ts";
import type { FixtureDType } from "../fixtures/make-model.ts";

// 6 layers: t = 0, 0.2, 0.4, 0.6, 0.8, 1 lands between the points of every gradient length 2..5.
const arch = { layers: 6, hidden: 32, intermediate: 48, vocab: 64 };

function fixture(dtype: FixtureDType): Fixture {
  return makeModels({
    a: { variant: "ft_dense", dtype, arch },
    b: { variant: "ft_sparse", dtype, arch, shardSize: 9_000 },
    c: { variant: "ft_rows", dtype, arch },
    base: { variant: "base", dtype, arch },
  });
}

for (const dtype of ["bf16", "fp32"] as const) {
  describe(`linear on ${dtype} models: gradients and filters on weight`, () => {
    const fx = fixture(dtype);

    it("gradient lists of length 2, 3, 4 and 5 across 6 layers", async () => {
      await expectMatchesReference(fx, `
merge_method: linear
models:
  - model: a
    parameters: {weight: [0.1, 0.9]}
  - model: b
    parameters: {weight: [0.7, 0.2, 0.45]}
  - model: c
    parameters: {weight: [0.3, 0.15, 0.8, 0.05]}
  - model: base
    parameters: {weight: [1, 0.33, 0.71, 0.2, 0.6]}
`);
    });

    it("several filters with a fallback, filters holding gradients, first match wins", async () => {
      await expectMatchesReference(fx, `
merge_method: linear
models:
  - model: a
    parameters:
      weight:
        - filter: self_attn
          value: [0.2, 0.8, 0.4]
        - filter: mlp
          value: 0.65
        - filter: layernorm
          value: [0.9, 0.1]
        - value: 0.37
  - model: c
    parameters:
      weight:
        - filter: q_proj
          value: 0.11
        - filter: self_attn
          value: 0.93
        - filter: "*"
          value: [0.5, 0.25, 0.75, 1.0]
`);
    });

    it("embeddings, the final norm and lm_head take the first gradient value (t = 0)", async () => {
      await expectMatchesReference(fx, `
merge_method: linear
models:
  - model: a
    parameters: {weight: [0.05, 0.95]}
  - model: b
    parameters:
      weight:
        - filter: embed_tokens
          value: [0.8, 0.1]
        - filter: lm_head
          value: [0.6, 0.3, 0.9]
        - filter: norm.weight
          value: [0.45, 0.55]
        - value: 0.5
`);
    });

    it("filters on layer numbers, normalize: false, and a top-level weight for models without one", async () => {
      await expectMatchesReference(fx, `
merge_method: linear
parameters:
  normalize: false
  weight: 0.25
models:
  - model: a
    parameters:
      weight:
        - filter: layers.1.
          value: 0.9
        - filter: layers.4.
          value: [0.1, 0.3]
  - model: b
  - model: c
    parameters: {weight: -0.15}
`);
    });

    it("normalize set per tensor by a filter (global parameter, matched on the output name)", async () => {
      await expectMatchesReference(fx, `
merge_method: linear
parameters:
  normalize:
    - filter: mlp
      value: false
    - value: true
models:
  - model: a
    parameters: {weight: 0.7}
  - model: c
    parameters: {weight: [0.2, 0.6]}
`);
    });

    it("a base_model not listed in models is added as an input with the top-level weight", async () => {
      await expectMatchesReference(fx, `
merge_method: linear
base_model: base
parameters:
  weight: 0.4
models:
  - model: a
    parameters: {weight: 0.3}
  - model: b
`);
    });
  });
}
