// The installed entry point, `node bin/amalgam.js` (dist/ is built by npm ci): exit codes and
// what reaches the terminal, as a user sees them.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/run-merge.ts";
import { makeModels } from "../merge/harness.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "bin", "amalgam.js");
const built = existsSync(join(ROOT, "dist", "runtimes", "node", "cli.js"));

describe.skipIf(!built)("node bin/amalgam.js", () => {
  const fx = makeModels({ a: { variant: "ft_dense" }, b: { variant: "ft_rows" } });
  const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: fx.root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  writeFileSync(join(fx.root, "ok.yml"), "merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 0.5}\n  - model: b\n    parameters: {weight: 0.5}\n");
  writeFileSync(join(fx.root, "bad.yml"), "merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 0.5}\n  - model: b\n    parameters:\n      weight: high\n");

  it("a merge exits 0 and relative model paths resolve against the current directory", () => {
    const out = join(tempDir(), "out");
    const r = run(["merge", "ok.yml", out, "--lazy-unpickle", "--threads", "1"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^note: --lazy-unpickle .*\nmerged \d+ tensors/);
    expect(readdirSync(out)).toContain("model.safetensors");
  });

  it("a config error exits 1 with one paragraph and no stack trace", () => {
    const r = run(["merge", "bad.yml", join(tempDir(), "out")]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim()).toBe('error [E_CONFIG_TYPE]: models[1].parameters.weight (line 7, column 15): expected a number or a list of numbers, got "high"');
  });

  it("an unknown flag exits 1; --help exits 0", () => {
    const bad = run(["merge", "ok.yml", "out", "--nope"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe('error [E_ARGS]: merge: unknown option --nope; see "amalgam merge --help"');
    const help = run(["merge", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: amalgam merge CONFIG OUT_DIR/);
  });
});
