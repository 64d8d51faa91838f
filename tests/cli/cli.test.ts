// The CLI through runCli with the real Node host (only the terminal and cwd swapped): exit codes,
// one-paragraph errors without stack traces, help, flags, notes, and no partial output on failure.
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, statSync, writeFileSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSize } from "../../src/cli/args.ts";
import { runCli } from "../../src/cli/main.ts";
import { AmalgamError } from "../../src/errors.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { nodeCliHost } from "../../runtimes/node/cli.ts";
import { tempDir } from "../helpers/run-merge.ts";
import { referenceFile, referenceMerge, referenceShards } from "../helpers/torch-reference.ts";
import { makeModels } from "../merge/harness.ts";

const fx = makeModels({
  a: { variant: "ft_dense" },
  b: { variant: "ft_rows", shardSize: 50_000 },
  broken: { variant: "ft_sparse" },
});
// A model whose safetensors data is cut short (the header still promises all of it).
const brokenFile = join(fx.root, "broken", "model.safetensors");
truncateSync(brokenFile, statSync(brokenFile).size - 1000);

const LINEAR = "merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 0.7}\n  - model: b\n    parameters: {weight: 0.3}\n";

interface Run { code: number; stdout: string; stderr: string }

/** Runs the CLI with the fixture root as the current directory for model paths. */
async function cli(args: string[], files: Record<string, string> = {}): Promise<Run> {
  const dir = tempDir("amalgam-cli-");
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  let stdout = "";
  let stderr = "";
  const host = nodeCliHost({
    resolveModel: fsResolver(fx.root),
    readTextFile: async (p) => readFileSync(join(dir, p), "utf8"),
    createSink: (await import("../../runtimes/node/fs-sink.ts")).FsOutputSink.create,
    stdout: (t) => { stdout += t; },
    stderr: (t) => { stderr += t; },
    stderrIsTTY: false,
    defaultThreads: 1,
  });
  const code = await runCli(args, host);
  return { code, stdout, stderr };
}

/** A user error: exit 1, one paragraph naming the code, no stack trace. */
function expectUserError(r: Run, code: string, text: string | RegExp): void {
  expect(r.code).toBe(1);
  const msg = r.stderr.trim();
  expect(msg.startsWith(`error [${code}]: `), msg).toBe(true);
  expect(msg).not.toMatch(/\n\s*\n/); // one paragraph
  expect(msg).not.toMatch(/\n\s+at /); // no stack trace
  if (typeof text === "string") expect(msg).toContain(text);
  else expect(msg).toMatch(text);
}

describe("amalgam merge", () => {
  it("merges a config: exit 0, output equal to the reference, a one-line summary", async () => {
    const out = join(tempDir(), "merged");
    const r = await cli(["merge", "c.yml", out, "--out-shard-size", "40K"], { "c.yml": LINEAR });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^merged 39 tensors \(.*\) with linear into .*merged in [\d.]+ s\n$/);
    const ref = referenceMerge(LINEAR, (p) => fx.models.get(p)!);
    const shards = referenceShards(ref.tensors, 40_000);
    expect(shards.files.size).toBeGreaterThan(1);
    for (const [f, ts] of shards.files) expect(readFileSync(join(out, f)).equals(referenceFile(ts)), f).toBe(true);
    expect(readFileSync(join(out, "model.safetensors.index.json"), "utf8")).toBe(shards.index);
  });

  it("--quiet prints nothing on success", async () => {
    const r = await cli(["merge", "c.yml", join(tempDir(), "m"), "--quiet"], { "c.yml": LINEAR });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("");
  });

  it("--out-shard-size takes K, M and B suffixes, as MergeKit's parse_kmb", () => {
    expect(parseSize("40K", "f")).toBe(40_000);
    expect(parseSize("40k", "f")).toBe(40_000);
    expect(parseSize("1.5M", "f")).toBe(1_500_000);
    expect(parseSize("5B", "f")).toBe(5_000_000_000);
    expect(parseSize("123", "f")).toBe(123);
    expect(() => parseSize("5G", "--out-shard-size")).toThrow(AmalgamError);
    expect(() => parseSize("", "--out-shard-size")).toThrow(/--out-shard-size: expected a number of bytes/);
  });

  it("a bad --out-shard-size is a user error", async () => {
    const r = await cli(["merge", "c.yml", join(tempDir(), "m"), "--out-shard-size", "5GB"], { "c.yml": LINEAR });
    expectUserError(r, "E_ARGS", '--out-shard-size: expected a number of bytes with an optional K, M or B suffix (e.g. 5B, 500M), got "5GB"');
  });

  it("MergeKit flags that mean nothing here print a one-line note each and the merge runs", async () => {
    const out = join(tempDir(), "m");
    const r = await cli(["merge", "c.yml", out, "--lazy-unpickle", "--clone-tensors", "--no-low-cpu-memory", "--quiet"], { "c.yml": LINEAR });
    expect(r.code).toBe(0);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^note: --lazy-unpickle /);
    expect(lines[1]).toMatch(/^note: --clone-tensors /);
    expect(lines[2]).toMatch(/^note: --no-low-cpu-memory /);
    expect(existsSync(join(out, "model.safetensors"))).toBe(true);
  });

  it("an unknown flag", async () => {
    expectUserError(await cli(["merge", "c.yml", "out", "--frobnicate"]), "E_ARGS", 'merge: unknown option --frobnicate; see "amalgam merge --help"');
    expectUserError(await cli(["merge", "c.yml", "out", "-z"]), "E_ARGS", "merge: unknown option -z");
  });

  it("wrong number of arguments, an unknown command", async () => {
    expectUserError(await cli(["merge", "c.yml"]), "E_ARGS", "merge: expected CONFIG and OUT_DIR, got 1 argument(s)");
    expectUserError(await cli(["mergee"]), "E_ARGS", 'unknown command "mergee"; expected one of: merge');
  });

  it("--help, -h and help merge print the options and exit 0", async () => {
    for (const args of [["merge", "--help"], ["merge", "-h"], ["help", "merge"]]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: amalgam merge CONFIG OUT_DIR \[options\]/);
      for (const flag of ["--out-shard-size", "--[no-]copy-tokenizer", "--[no-]write-model-card", "--random-seed", "--[no-]allow-crimes", "--[no-]quiet", "--[no-]lazy-unpickle", "-v, --verbose"]) {
        expect(r.stdout, flag).toContain(flag);
      }
    }
    const top = await cli(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: amalgam <command>/);
  });

  it("a config error names the file's config path with line and column", async () => {
    const r = await cli(["merge", "c.yml", join(tempDir(), "m")], { "c.yml": LINEAR.replace("weight: 0.3", "weight: high") });
    expectUserError(r, "E_CONFIG_TYPE", 'models[1].parameters.weight (line 6, column 26): expected a number or a list of numbers, got "high"');
  });

  it("a missing config file", async () => {
    expectUserError(await cli(["merge", "nope.yml", join(tempDir(), "m")]), "E_ARGS", "cannot read config nope.yml");
  });

  it("a missing model directory", async () => {
    const out = join(tempDir(), "m");
    const r = await cli(["merge", "c.yml", out], { "c.yml": LINEAR.replace("model: b", "model: nowhere") });
    expectUserError(r, "E_MODEL_NOT_FOUND", /^error \[E_MODEL_NOT_FOUND\]: models\[1\] \(line 5, column 5\): model "nowhere": no directory/);
    expect(existsSync(out)).toBe(false);
  });
});

describe("a failed merge leaves no partial files", () => {
  const cases = {
    "truncated safetensors data (found while planning)": "merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 0.5}\n  - model: broken\n    parameters: {weight: 0.5}\n",
    "a missing weight for a base model (found while merging)": "merge_method: linear\nbase_model: b\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, 4]\n        parameters: {weight: 1}\n      - model: b\n        layer_range: [0, 4]\n",
  };
  for (const [what, yaml] of Object.entries(cases)) {
    it(`${what}: a new output directory is not left behind`, async () => {
      const out = join(tempDir(), "new-out");
      const r = await cli(["merge", "c.yml", out, "--out-shard-size", "20K"], { "c.yml": yaml });
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
    });

    it(`${what}: an existing output directory keeps exactly what it had`, async () => {
      const out = tempDir("amalgam-existing-");
      mkdirSync(join(out, "keep"));
      copyFileSync(join(fx.root, "a", "config.json"), join(out, "config.json"));
      const before = readdirSync(out).sort();
      const r = await cli(["merge", "c.yml", out], { "c.yml": yaml });
      expect(r.code).toBe(1);
      expect(readdirSync(out).sort()).toEqual(before);
      expect(readFileSync(join(out, "config.json")).equals(readFileSync(join(fx.root, "a", "config.json")))).toBe(true);
    });
  }

  it("the truncated model is reported by file and tensor", async () => {
    const r = await cli(["merge", "c.yml", join(tempDir(), "m")], { "c.yml": cases["truncated safetensors data (found while planning)"] });
    expectUserError(r, "E_SAFETENSORS", /^error \[E_SAFETENSORS\]: broken\/model\.safetensors: tensor "[^"]+": data_offsets \[\d+, \d+\] run past the \d+ data bytes of the file$/);
  });
});
