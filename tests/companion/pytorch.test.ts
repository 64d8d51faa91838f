// amalgam pytorch: raw state-dict merges (mergekit-pytorch), on the shipped fixtures.
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { readTensors, values } from "../helpers/safetensors-read.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { cli } from "./helpers/cli.ts";
import { f32Raw, writeSafetensors } from "./helpers/safetensors-write.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const DENSE = "examples/models/ft_dense/model.safetensors";
const BIN = "tests/fixtures/torch-bin/tiny-base/pytorch_model.bin";

function config(dir: string, text: string): string {
  const p = join(dir, "config.yml");
  writeFileSync(p, text);
  return p;
}

describe("amalgam pytorch", () => {
  it("has --help", async () => {
    const r = await cli("pytorch", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: amalgam pytorch CONFIG OUT_DIR/);
    expect(r.stdout).toMatch(/--tensor-intersection/);
    expect((await cli("help", "pytorch")).stdout).toBe(r.stdout);
  });

  it("merges single files (.safetensors with .bin) to the same tensors as the model-directory merge", async () => {
    const dir = tempDir();
    const out = join(dir, "raw");
    const cfg = config(dir, `merge_method: linear\nmodels:\n  - model: ${DENSE}\n    parameters: {weight: 0.3}\n  - model: ${BIN}\n    parameters: {weight: 0.7}\ndtype: bfloat16\n`);
    const r = await cli("pytorch", cfg, out, "--quiet");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readdirSync(out)).toEqual(["model.safetensors"]);
    const ref = join(dir, "ref");
    await runMerge(`merge_method: linear\nmodels:\n  - model: examples/models/ft_dense\n    parameters: {weight: 0.3}\n  - model: examples/models/base\n    parameters: {weight: 0.7}\ndtype: bfloat16\n`, ROOT, ref);
    const a = readTensors(out);
    const b = readTensors(ref);
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    for (const [n, t] of a) expect(Buffer.compare(t.raw, b.get(n)!.raw), n).toBe(0);
  });

  it("shards with an index and writes no config, card or tokenizer", async () => {
    const dir = tempDir();
    const out = join(dir, "o");
    const cfg = config(dir, `merge_method: linear\nmodels:\n  - model: ${DENSE}\n    parameters: {weight: 1}\n  - model: ${BIN}\n    parameters: {weight: 1}\n`);
    expect((await cli("pytorch", cfg, out, "--out-shard-size", "100K", "--quiet")).code).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toContain("model.safetensors.index.json");
    expect(files.filter((f) => f.endsWith(".safetensors")).length).toBeGreaterThan(1);
    expect(files.some((f) => f === "config.json" || f === "README.md")).toBe(false);
  });

  it("errors on a tensor some inputs lack unless -i or -u", async () => {
    const dir = tempDir();
    const outRoot = tempDir(); // outputs inside an input's directory are refused
    writeSafetensors(join(dir, "a.safetensors"), [
      { name: "shared", dtype: "F32", shape: [2], raw: f32Raw([1, 2]) },
      { name: "only_a", dtype: "F32", shape: [1], raw: f32Raw([5]) },
    ]);
    writeSafetensors(join(dir, "b.safetensors"), [
      { name: "shared", dtype: "F32", shape: [2], raw: f32Raw([3, 6]) },
      { name: "only_b", dtype: "F32", shape: [1], raw: f32Raw([7]) },
    ]);
    const cfg = config(dir, `merge_method: linear\nmodels:\n  - model: ${dir}/a.safetensors\n    parameters: {weight: 1}\n  - model: ${dir}/b.safetensors\n    parameters: {weight: 3}\n`);
    const err = await cli("pytorch", cfg, join(outRoot, "e"), "--quiet");
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/E_TENSOR_MISSING.*"only_a" is missing from .*b\.safetensors/);
    expect(existsSync(join(outRoot, "e"))).toBe(false);

    expect((await cli("pytorch", cfg, join(outRoot, "i"), "-i", "--quiet")).code).toBe(0);
    expect([...readTensors(join(outRoot, "i")).keys()]).toEqual(["shared"]);
    expect([...values(readTensors(join(outRoot, "i")).get("shared")!)]).toEqual([2.5, 5]);

    expect((await cli("pytorch", cfg, join(outRoot, "u"), "-u", "--quiet")).code).toBe(0);
    const u = readTensors(join(outRoot, "u"));
    expect([...u.keys()].sort()).toEqual(["only_a", "only_b", "shared"]);
    expect([...values(u.get("only_a")!)]).toEqual([5]);
    expect([...values(u.get("only_b")!)]).toEqual([7]);
  });

  it("reproduces the `if value :=` quirk (a per-model 0 is not set) and fixes it with --fix-quirks", async () => {
    const dir = tempDir();
    const outRoot = tempDir();
    writeSafetensors(join(dir, "a.safetensors"), [{ name: "w", dtype: "F32", shape: [2], raw: f32Raw([1, 2]) }]);
    writeSafetensors(join(dir, "b.safetensors"), [{ name: "w", dtype: "F32", shape: [2], raw: f32Raw([3, 6]) }]);
    const cfg = config(dir, `merge_method: linear\nmodels:\n  - model: ${dir}/a.safetensors\n    parameters: {weight: 0}\n  - model: ${dir}/b.safetensors\n    parameters: {weight: 1}\nparameters: {weight: 1}\n`);
    const q = await cli("pytorch", cfg, join(outRoot, "q"));
    expect(q.code).toBe(0);
    expect(q.stderr).toMatch(/warning: per-model parameter\(s\) set to 0 were treated as not set.*weight of .*a\.safetensors/);
    expect([...values(readTensors(join(outRoot, "q")).get("w")!)]).toEqual([2, 4]); // a's weight fell back to 1
    expect((await cli("pytorch", cfg, join(outRoot, "f"), "--fix-quirks", "--quiet")).code).toBe(0);
    expect([...values(readTensors(join(outRoot, "f")).get("w")!)]).toEqual([3, 6]);
    const noGlobal = config(dir, `merge_method: linear\nmodels:\n  - model: ${dir}/a.safetensors\n    parameters: {weight: 0}\n  - model: ${dir}/b.safetensors\n    parameters: {weight: 1}\n`);
    expect((await cli("pytorch", noGlobal, join(outRoot, "n"), "--quiet")).stderr).toMatch(/E_CONFIG.*"weight" is required.*a 0 counts as not set/);
  });

  it("merges task-arithmetic methods with a base file and leaves integer buffers out with a warning", async () => {
    const dir = tempDir();
    const odd = "tests/fixtures/torch-bin/odd.bin";
    const cfg = config(dir, `merge_method: task_arithmetic\nbase_model: ${odd}\nmodels:\n  - model: ${odd}\n    parameters: {weight: 0.5}\n`);
    const r = await cli("pytorch", cfg, join(dir, "o"));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/2 non-float tensor\(s\).*left out: bool\.mask \(BOOL\), i64\.positions \(I64\)/);
    const t = readTensors(join(dir, "o"));
    expect(t.has("i64.positions")).toBe(false);
    expect([...values(t.get("f32.view_offset")!)]).toEqual(Array.from({ length: 12 }, (_, i) => (10 + i) / 8 - 2));
    expect(t.get("bf16.vector")!.dtype).toBe("BF16");
  });
});
