// The torch reference itself reproduces MergeKit's golden outputs, so agreeing with it means something.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GOLDEN } from "../helpers/run-merge.ts";
import { referenceFile, referenceMerge, referenceShards } from "../helpers/torch-reference.ts";
import { makeModels } from "./harness.ts";

describe("torch reference vs MergeKit's golden outputs", () => {
  const fx = makeModels({
    "models/tiny-bf16/base": { variant: "base" },
    "models/tiny-bf16/ft_dense": { variant: "ft_dense" },
    "models/tiny-bf16/ft_sparse": { variant: "ft_sparse", shardSize: 120_000 },
    "models/tiny-bf16/ft_rows": { variant: "ft_rows" },
  });
  for (const name of ["linear", "passthrough", "frankenmerge"]) {
    it(`${name}: the reference's model.safetensors equals MergeKit's byte for byte`, () => {
      const yaml = readFileSync(join(GOLDEN, "configs", `${name}.yml`), "utf8");
      const ref = referenceMerge(yaml, (p) => fx.models.get(p)!);
      const shards = referenceShards(ref.tensors, 5_000_000_000);
      expect([...shards.files.keys()]).toEqual(["model.safetensors"]);
      const want = readFileSync(join(GOLDEN, "reference", name, "model.safetensors"));
      expect(Buffer.from(referenceFile(shards.files.get("model.safetensors")!)).equals(want)).toBe(true);
      const cfg = JSON.parse(readFileSync(join(GOLDEN, "reference", name, "config.json"), "utf8")) as Record<string, unknown>;
      expect(ref.numLayers).toBe(cfg["num_hidden_layers"]);
    });
  }
});
