// The short fuzz run of the suite: a few thousand seeded cases per parser, each ending in an
// acceptance that keeps the parser's promises or an AmalgamError naming the file. The long run is
// `npm run fuzz -- --cases 1000000` (see the README).
import { describe, expect, it } from "vitest";
import { runFuzz } from "../../src/fuzz/fuzz-loop.ts";
import { FUZZ_TARGETS } from "../../src/fuzz/target.ts";

const CASES: Record<string, number> = { safetensors: 1000, index: 1000, config: 600, yaml: 600, json: 2000, pytorch: 1000 };

describe("fuzzing (short run)", () => {
  for (const target of FUZZ_TARGETS) {
    it(`${target}: ${CASES[target]} cases, only typed errors and valid acceptances`, async () => {
      const stats = await runFuzz({ target, seed: 20240601, cases: CASES[target]!, slowMs: 5000 });
      expect(stats.findings.map((f) => `${f.kind} case ${f.case}: ${f.error}`)).toEqual([]);
      expect(stats.cases).toBe(CASES[target]);
      expect(stats.accepted).toBeGreaterThan(0); // the generators reach past the first check
      expect(stats.rejected).toBeGreaterThan(0);
      expect(stats.signatures).toBeGreaterThan(50); // many distinct checks were reached
    });
  }

  it("is deterministic for a seed", async () => {
    const a = await runFuzz({ target: "safetensors", seed: 5, cases: 200 });
    const b = await runFuzz({ target: "safetensors", seed: 5, cases: 200 });
    expect([a.accepted, a.rejected, a.signatures, a.codes]).toEqual([b.accepted, b.rejected, b.signatures, b.codes]);
  });
});
