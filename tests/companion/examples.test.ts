// The companion examples of examples/README.md run as documented.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { readTensors } from "../helpers/safetensors-read.ts";
import { tempDir } from "../helpers/run-merge.ts";
import { cli } from "./helpers/cli.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");

describe("companion examples", () => {
  it("multi (staged and single pass), pytorch, moe, extract-lora and a LoRA reference run on the shipped fixtures", async () => {
    const out = tempDir();
    const run = async (...argv: string[]) => {
      const r = await cli(...argv, "--quiet");
      expect(r.stderr, argv.join(" ")).not.toMatch(/error/);
      expect(r.code, argv.join(" ")).toBe(0);
    };
    await run("multi", "examples/multi.yml", "-I", join(out, "stages"), "--out-path", join(out, "multi"));
    await run("multi", "examples/multi.yml", "-I", join(out, "stages2"), "--out-path", join(out, "multi-sp"), "--single-pass");
    expect(readFileSync(join(out, "multi-sp", "model.safetensors")).equals(readFileSync(join(out, "multi", "model.safetensors")))).toBe(true);
    await run("pytorch", "examples/pytorch.yml", join(out, "raw"));
    await run("moe", "examples/moe.yml", join(out, "moe"));
    await run("extract-lora", "--model", "examples/models/ft_dense", "--base-model", "examples/models/base", "--out-path", join(out, "lora"), "--max-rank", "16");
    const lora = join(out, "lora.yml");
    writeFileSync(lora, readFileSync(join(ROOT, "examples", "lora.yml"), "utf8").replace("+out/lora", `+${join(out, "lora")}`));
    await run("merge", lora, join(out, "lora-merged"));
    expect(readTensors(join(out, "lora-merged")).size).toBe(39);
    expect(readTensors(join(out, "moe")).has("model.layers.0.block_sparse_moe.gate.weight")).toBe(true);
  });
});
