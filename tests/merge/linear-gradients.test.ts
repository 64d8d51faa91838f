// linear with gradients and filters on `weight`, checked bit for bit against the torch reference.
import { describe, it } from "vitest";
import { expectMatchesReference, makeModels } from "./harness.ts";

describe("linear: gradients and filters on weight", () => {
  const fx = makeModels({
    a: { variant: "ft_dense" },
    b: { variant: "ft_sparse", shardSize: 100_000 },
    c: { variant: "ft_rows" },
    base: { variant: "base" },
  });

  it("a plain gradient per model (lengths 2 and 3) across 4 layers", async () => {
    await expectMatchesReference(fx, `
merge_method: linear
models:
  - model: a
    parameters: {weight: [0.1, 0.9]}
  - model: b
    parameters: {weight: [0.7, 0.2, 0.45]}
`);
  });
});
