// The inspection commands from the command line: help, dispatch, text output and exit codes.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/run-merge.ts";
import { cli } from "../inspect/cli-host.ts";
import { EXAMPLES } from "../inspect/fixtures.ts";

describe("inspection commands on the command line", () => {
  it("are listed in the help, have their own --help, and unknown commands name them", async () => {
    const help = await cli(["help"]);
    for (const c of ["explain CONFIG", "check CONFIG", "inspect MODEL", "diff MODEL_A MODEL_B", "convert MODEL OUT_DIR"]) expect(help.stdout).toContain(c);
    for (const c of ["explain", "check", "inspect", "diff", "convert"]) {
      const a = await cli([c, "--help"]);
      const b = await cli(["help", c]);
      expect(a.code).toBe(0);
      expect(a.stdout).toMatch(new RegExp(`^Usage: amalgam ${c} `));
      expect(a.stdout).toContain("--json");
      expect(b.stdout).toBe(a.stdout);
    }
    expect((await cli(["merge", "--help"])).stdout).toMatch(/--dry-run[\s\S]*--json/);
    const bad = await cli(["constructor"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown command "constructor"; expected one of: merge, assemble, explain, check, inspect, diff, convert, multi, pytorch, moe, extract-lora, help, version/);
    expect((await cli(["explain"])).stderr).toMatch(/E_ARGS.*expected CONFIG/);
    expect((await cli(["diff", "a"])).stderr).toMatch(/expected MODEL_A and MODEL_B/);
  });

  it("merge --dry-run prints the plan summary and writes nothing", async () => {
    const out = join(tempDir(), "dry");
    const r = await cli(["merge", "examples/linear.yml", out, "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^dry run: nothing written to /);
    expect(r.stdout).toMatch(/output\s+4 layers, 39 tensors, 361\.6 KB in 1 shard/);
    expect(existsSync(out)).toBe(false);
  });

  it("check CONFIG OUT_DIR times a write there and leaves nothing behind", async () => {
    const out = join(tempDir(), "not-yet");
    const r = await cli(["check", "examples/linear.yml", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/writing 361\.6 KB at [\d.]+ [KMG]?B\/s/);
    expect(existsSync(out)).toBe(false);
    expect((await cli(["check", "examples/linear.yml"])).stdout).toMatch(/writing 361\.6 KB not counted \(give OUT_DIR to time it\)/);
  });

  it("explain prints one table per layer with the parameters after gradients and filters", async () => {
    const r = await cli(["explain", "examples/linear-gradient.yml", "--tensor", "layers.1."]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/output\s+4 layers, 9 of 39 tensors shown, working F32, output BF16/);
    expect(r.stdout).toMatch(/global\s+normalize 1 \(default\)/);
    expect(r.stdout).toMatch(/layer 1 \(t = 0\.333333\)/);
    expect(r.stdout).toMatch(/self_attn\.q_proj\.weight\s+\[64, 64\]\s+weight 0\.666667 \[self_attn\]\s+weight 0\.333333 \[self_attn\]/);
    const f = await cli(["explain", "examples/frankenmerge.yml", "--tensor", "o_proj"]);
    expect(f.stdout).toMatch(/layer 3 \(t = 0\)\n\s+tensor\s+shape\s+ft_sparse \(layer 1\)\n\s+self_attn\.o_proj\.weight\s+\[64, 64\]\s+scale 0\.5 \[o_proj\]/);
    expect(f.stdout).toMatch(/layer 0 \(t = 0\)\n.*\n\s+self_attn\.o_proj\.weight\s+\[64, 64\]\s+scale unset/);
  });

  it("diff prints the per-layer table, and every tensor with --tensors", async () => {
    const r = await cli(["diff", join(EXAMPLES, "base"), join(EXAMPLES, "base")]);
    expect(r.stdout).toMatch(/: identical\n/);
    const t = await cli(["diff", join(EXAMPLES, "base"), join(EXAMPLES, "ft_rows"), "--tensors", "--tensor", "lm_head"]);
    expect(t.stdout).toMatch(/per layer[\s\S]*post\s+1\s+16\.4 K\s+[\d.]+%[\s\S]*per tensor[\s\S]*lm_head\.weight\s+\[256, 64\]\s+BF16/);
  });

  it("convert reports what it wrote", async () => {
    const out = join(tempDir(), "c");
    const r = await cli(["convert", join(EXAMPLES, "base"), out, "--dtype", "float32"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/converted 39 tensors \(39 re-encoded\) .* to F32: 361\.6 KB -> 723\.2 KB in 1 shard; wrote model\.safetensors, config\.json, /);
  });
});
