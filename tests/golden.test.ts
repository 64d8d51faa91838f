// MergeKit's own outputs (tests/golden/reference) reproduced bit for bit.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GOLDEN, runGolden } from "./helpers/run-merge.ts";
import { maxUlp, readTensors } from "./helpers/safetensors-read.ts";

/** Configs whose outputs must be bit-identical to MergeKit's. */
const EXACT = ["linear", "passthrough", "frankenmerge"];

describe("golden vectors: exact methods", () => {
  for (const name of EXACT) {
    it(`${name} is bit-identical to MergeKit`, async () => {
      const { out } = await runGolden(name);
      const ref = readTensors(join(GOLDEN, "reference", name));
      const got = readTensors(out);
      expect([...got.keys()].sort()).toEqual([...ref.keys()].sort());
      for (const [t, r] of ref) {
        const g = got.get(t)!;
        expect(g.dtype, t).toBe(r.dtype);
        expect(g.shape, t).toEqual(r.shape);
        expect(maxUlp(g, r), t).toBe(0);
      }
      // the whole safetensors file, header layout included
      expect(readFileSync(join(out, "model.safetensors")).equals(readFileSync(join(GOLDEN, "reference", name, "model.safetensors")))).toBe(true);
      const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
      const refCfg = JSON.parse(readFileSync(join(GOLDEN, "reference", name, "config.json"), "utf8"));
      expect(cfg.num_hidden_layers).toBe(refCfg.num_hidden_layers);
      expect(cfg.dtype).toBe(refCfg.dtype);
    });
  }
});
