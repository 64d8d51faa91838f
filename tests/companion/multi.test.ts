// amalgam multi: staged recipes equal their stages run by hand; --single-pass equals both.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMultiConfig, orderStages } from "../../src/multi/multi-config.ts";
import { runMulti } from "../../src/multi/run-multi.ts";
import type { StageEvent } from "../../src/multi/run-multi.ts";
import { AmalgamError } from "../../src/errors.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { FsOutputSink } from "../../runtimes/node/fs-sink.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { readTensors } from "../helpers/safetensors-read.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { cli } from "./helpers/cli.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const M = "examples/models";

/** A diamond: ta reads mix; the final slerp reads mix and ta. */
const STAGE_MIX = `name: mix
merge_method: linear
models:
  - model: ${M}/ft_dense
    parameters: {weight: 0.6}
  - model: ${M}/ft_rows
    parameters: {weight: 0.4}
dtype: bfloat16
`;
const STAGE_TA = (mix: string) => `name: ta
merge_method: ties
base_model: ${M}/base
models:
  - model: ${mix}
    parameters: {weight: 0.5, density: 0.5}
  - model: ${M}/ft_sparse
    parameters: {weight: 0.3, density: 0.7}
dtype: bfloat16
`;
const STAGE_FINAL = (mix: string, ta: string) => `merge_method: slerp
base_model: ${mix}
models:
  - model: ${mix}
  - model: ${ta}
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 1]
    - value: 0.3
`;
const RECIPE = `${STAGE_FINAL("mix", "ta")}---\n${STAGE_TA("mix")}---\n${STAGE_MIX}`;

function sameModel(a: string, b: string): void {
  const ta = readTensors(a);
  const tb = readTensors(b);
  expect([...ta.keys()]).toEqual([...tb.keys()]);
  for (const [n, t] of ta) {
    expect(t.file, n).toBe(tb.get(n)!.file);
    expect(Buffer.compare(t.raw, tb.get(n)!.raw), n).toBe(0);
  }
  for (const f of ["config.json", "model.safetensors.index.json", "tokenizer.json"]) {
    expect(existsSync(join(a, f)), f).toBe(existsSync(join(b, f)));
    if (existsSync(join(a, f))) expect(readFileSync(join(a, f), "utf8"), f).toBe(readFileSync(join(b, f), "utf8"));
  }
}

function write(dir: string, text: string): string {
  const p = join(dir, "recipe.yml");
  writeFileSync(p, text);
  return p;
}

describe("amalgam multi", () => {
  it("has --help", async () => {
    const r = await cli("multi", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: amalgam multi CONFIG --intermediate-dir DIR/);
    expect(r.stdout).toMatch(/--single-pass/);
  });

  it("a staged recipe equals its stages run by hand, and --single-pass equals both", async () => {
    const dir = tempDir();
    const recipe = write(dir, RECIPE);
    const inter = join(dir, "inter");
    const r = await cli("multi", recipe, "-I", inter, "--out-path", join(dir, "final"), "--out-shard-size", "150K", "-j", "1");
    expect(r.stderr).toMatch(/merged "mix".*\nmerged "ta".*\nmerged the final \(unnamed\) merge/);
    expect(r.code).toBe(0);

    // By hand: the same configs with the names replaced by the directories.
    const hand = join(dir, "hand");
    const opts = { outShardSize: 150_000 };
    await runMerge(STAGE_MIX.replace("name: mix\n", ""), ROOT, join(hand, "mix"), opts);
    await runMerge(STAGE_TA(join(hand, "mix")).replace("name: ta\n", ""), ROOT, join(hand, "ta"), opts);
    await runMerge(STAGE_FINAL(join(hand, "mix"), join(hand, "ta")), ROOT, join(hand, "final"), opts);
    expect(readdirSync(join(inter, "mix")).some((f) => f.startsWith("model-00001-of-"))).toBe(true);
    sameModel(join(inter, "mix"), join(hand, "mix"));
    sameModel(join(inter, "ta"), join(hand, "ta"));
    sameModel(join(dir, "final"), join(hand, "final"));

    for (const threads of ["1", "2"]) {
      const sp = join(dir, `single-${threads}`);
      const inter2 = join(dir, `inter-sp-${threads}`);
      const s = await cli("multi", recipe, "-I", inter2, "--out-path", sp, "--single-pass", "--out-shard-size", "150K", "-j", threads);
      expect(s.stderr).toMatch(/merged the final \(unnamed\) merge: .* \(evaluated on the fly: "mix", "ta"\)/);
      expect(s.code).toBe(0);
      expect(existsSync(inter2) ? readdirSync(inter2) : []).toEqual([]);
      sameModel(sp, join(hand, "final"));
    }
  });

  it("single pass computes each intermediate tensor once", async () => {
    const dir = tempDir();
    const multi = parseMultiConfig(RECIPE, "recipe.yml", join(dir, "i"), join);
    const events: StageEvent[] = [];
    await runMulti(multi, {
      resolveModel: fsResolver(ROOT), createSink: (d) => FsOutputSink.create(d), listDir: async (d) => (existsSync(d) ? readdirSync(d) : []),
      joinPath: join, baseName: (p) => p.split("/").pop()!, intermediateDir: join(dir, "i"), outPath: join(dir, "o"), singlePass: true,
      merge: { kernels: await loadKernelModule() }, onStage: (e) => events.push(e),
    });
    const done = events.find((e) => e.status === "merged")!;
    const perModel = readTensors(join(ROOT, M, "base")).size;
    expect(done.tensorsEvaluated).toBe(2 * perModel);
  });

  it("skips finished merges with --lazy (the default) and redoes them with --no-lazy", async () => {
    const dir = tempDir();
    const recipe = write(dir, `${STAGE_MIX}---\nmerge_method: passthrough\nmodels:\n  - model: mix\n`);
    const args = ["multi", recipe, "-I", join(dir, "i"), "--out-path", join(dir, "o")];
    expect((await cli(...args)).code).toBe(0);
    const again = await cli(...args);
    expect(again.stderr).toMatch(/skipped "mix": .* already has a model/);
    expect(again.stderr).toMatch(/skipped the final/);
    expect(again.stderr).toMatch(/0 merge\(s\) written, 2 skipped/);
    expect((await cli(...args, "--no-lazy")).stderr).toMatch(/2 merge\(s\) written, 0 skipped/);
  });

  it("runs named-only recipes without --out-path; single pass writes only the merges nothing reads", async () => {
    const dir = tempDir();
    const recipe = write(dir, `${STAGE_MIX}---\nname: copy\nmerge_method: linear\nmodels:\n  - model: mix\n    parameters: {weight: 0.5}\n  - model: ${M}/ft_sparse\n    parameters: {weight: 0.5}\n`);
    expect((await cli("multi", recipe, "-I", join(dir, "a"))).code).toBe(0);
    expect(readdirSync(join(dir, "a")).sort()).toEqual(["copy", "mix"]);
    expect((await cli("multi", recipe, "-I", join(dir, "b"), "--single-pass", "-j", "2", "--memory-budget", "1M")).code).toBe(0);
    expect(readdirSync(join(dir, "b"))).toEqual(["copy"]);
    sameModel(join(dir, "a", "copy"), join(dir, "b", "copy"));
  });

  it("refuses cycles, duplicate names, two unnamed merges and a missing --out-path", async () => {
    const dir = tempDir();
    const doc = (name: string | undefined, model: string) => `${name ? `name: ${name}\n` : ""}merge_method: passthrough\nmodels:\n  - model: ${model}\n`;
    const cases: [string, string[], RegExp][] = [
      [`${doc("a", "b")}---\n${doc("b", "c")}---\n${doc("c", "a")}`, [], /E_CONFIG.*circular dependency between merges: "a" -> "b" -> "c" -> "a"/],
      [`${doc("a", "a")}`, [], /E_CONFIG.*circular dependency between merges: "a" -> "a"/],
      [`${doc("a", `${M}/base`)}---\n${doc("a", `${M}/base`)}`, [], /E_CONFIG.*document 2\).*duplicate merge name "a"/],
      [`${doc(undefined, `${M}/base`)}---\n${doc(undefined, `${M}/base`)}`, ["--out-path", join(dir, "o")], /E_CONFIG.*more than one unnamed merge/],
      [`${doc("a", `${M}/base`)}---\n${doc(undefined, "a")}`, [], /E_ARGS.*--out-path is required/],
      [`${doc("../up", `${M}/base`)}`, [], /E_CONFIG.*must be a relative directory name/],
    ];
    for (const [text, extra, pattern] of cases) {
      const r = await cli("multi", write(dir, text), "-I", join(dir, "i"), ...extra);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(pattern);
    }
    expect((await cli("multi", write(dir, doc("a", `${M}/base`)))).stderr).toMatch(/E_ARGS.*--intermediate-dir \(-I\) is required/);
    expect(existsSync(join(dir, "i"))).toBe(false);
  });

  it("orders stages by dependency, then document order, and rewrites references", () => {
    const m = parseMultiConfig(`name: c\nmerge_method: linear\nmodels:\n  - model: a@rev\n    parameters: {weight: 1}\n  - model: b\n    parameters: {weight: 1}\n---\nname: b\nmerge_method: passthrough\nmodels:\n  - model: mx\n---\nname: a\nmerge_method: passthrough\nmodels:\n  - model: my\n`, "r.yml", "/tmp/I", (d, n) => `${d}/${n}`);
    expect(orderStages(m).map((s) => s.name)).toEqual(["a", "b", "c"]);
    expect(m.stages[0]!.dependencies).toEqual(["a", "b"]);
    expect(m.stages[0]!.config.models!.map((s) => s.model.text)).toEqual(["/tmp/I/a@rev", "/tmp/I/b"]);
    expect(() => parseMultiConfig(`name: a\nmerge_method: passthrough\nmodels:\n  - model: mx\n  bad: [\n`, "r.yml", "/tmp", (d, n) => `${d}/${n}`)).toThrow(AmalgamError);
  });
});

describe("multi stage configs", () => {
  it("record each stage's own text without its name in mergekit_config.yml", async () => {
    const dir = tempDir();
    const recipe = write(dir, `${STAGE_MIX}---\nmerge_method: passthrough\nmodels:\n  - model: mix\n`);
    expect((await cli("multi", recipe, "-I", join(dir, "i"), "--out-path", join(dir, "o"))).code).toBe(0);
    expect(readFileSync(join(dir, "i", "mix", "mergekit_config.yml"), "utf8")).toBe(STAGE_MIX.replace("name: mix\n", ""));
    expect(readFileSync(join(dir, "o", "mergekit_config.yml"), "utf8")).toBe("merge_method: passthrough\nmodels:\n  - model: mix\n");
  });
});
