// --json on every command: each line is one event that validates against JSON_EVENT_SCHEMA (which
// forbids unknown properties), starting with `start` and ending with `result` or `error`.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/run-merge.ts";
import { JSON_EVENT_SCHEMA } from "../../src/inspect/json-event-schema.ts";
import { JSON_EVENTS_VERSION } from "../../src/cli/json-events.ts";
import { validate } from "../inspect/json-schema-validate.ts";
import { cli } from "../inspect/cli-host.ts";
import { derivedModel, EXAMPLES } from "../inspect/fixtures.ts";

async function events(argv: string[], wantCode = 0): Promise<Record<string, unknown>[]> {
  const r = await cli([...argv, "--json"]);
  expect(r.code, `${argv.join(" ")}: ${r.stderr}`).toBe(wantCode);
  const evs = r.events();
  for (const [i, e] of evs.entries()) expect(validate(JSON_EVENT_SCHEMA, e), `${argv[0]} event ${i}: ${JSON.stringify(e).slice(0, 200)}`).toEqual([]);
  expect(evs[0]).toEqual({ type: "start", command: argv[0], version: JSON_EVENTS_VERSION });
  expect(["result", "error"]).toContain(evs[evs.length - 1]!["type"]);
  return evs;
}

const types = (evs: Record<string, unknown>[]) => [...new Set(evs.map((e) => e["type"]))];

describe("--json events follow the schema", () => {
  it("merge: plan, progress per tensor, result; --dry-run: plan and result, nothing written", async () => {
    const out = join(tempDir(), "m");
    const evs = await events(["merge", "examples/linear.yml", out]);
    expect(types(evs)).toEqual(["start", "plan", "progress", "result"]);
    expect(evs.filter((e) => e["type"] === "progress").length).toBe(39);
    const dry = join(tempDir(), "dry");
    const d = await events(["merge", "examples/frankenmerge.yml", dry, "--dry-run", "--shard", "1/2", "--out-shard-size", "100K"]);
    expect(types(d)).toEqual(["start", "plan", "result"]);
    expect((d[1]!["data"] as { part: { files: string[] } }).part.files.length).toBeGreaterThan(0);
    expect(existsSync(dry)).toBe(false);
  });

  it("merge --shard parts and assemble --json", async () => {
    const out = join(tempDir(), "parts");
    for (const i of [1, 2]) expect(types(await events(["merge", "examples/linear.yml", out, "--shard", `${i}/2`, "--out-shard-size", "100K"]))).toEqual(["start", "plan", "progress", "result"]);
    const a = await events(["assemble", out]);
    expect(a[a.length - 1]).toMatchObject({ type: "result", command: "assemble", data: { parts: 2 } });
  });

  it("explain, inspect: one result", async () => {
    expect(types(await events(["explain", "examples/linear-gradient.yml"]))).toEqual(["start", "result"]);
    expect(types(await events(["explain", "examples/frankenmerge.yml", "--tensor", "o_proj"]))).toEqual(["start", "result"]);
    expect(types(await events(["inspect", join(EXAMPLES, "ft_sparse")]))).toEqual(["start", "result"]);
  });

  it("check: plan and result when it passes; result with ok false and exit code 1 when it fails", async () => {
    expect(types(await events(["check", "examples/linear.yml"]))).toEqual(["start", "plan", "result"]);
    const broken = derivedModel("ft_rows", (t) => { t.delete("model.norm.weight"); });
    const dir = tempDir();
    const cfg = join(dir, "c.yml");
    writeFileSync(cfg, `merge_method: linear\nmodels:\n  - model: examples/models/ft_dense\n    parameters: {weight: 1}\n  - model: ${broken}\n    parameters: {weight: 1}\n`);
    const evs = await events(["check", cfg], 1);
    const result = evs[evs.length - 1]!;
    expect(result).toMatchObject({ type: "result", ok: false });
  });

  it("diff: progress per tensor and the result; shape mismatches and nulls validate too", async () => {
    const evs = await events(["diff", join(EXAMPLES, "base"), join(EXAMPLES, "ft_dense")]);
    expect(types(evs)).toEqual(["start", "progress", "result"]);
    const other = derivedModel("base", (t) => {
      const q = t.get("model.layers.0.self_attn.q_proj.weight")!;
      t.set("model.layers.0.self_attn.q_proj.weight", { dtype: q.dtype, shape: [32, 128], raw: q.raw });
      t.set("zero.bias", { dtype: "F32", shape: [4], raw: new Uint8Array(16) });
      t.set("model.layers.0.rotary.inv_freq", { dtype: "I64", shape: [1], raw: new Uint8Array(8) });
    });
    await events(["diff", join(EXAMPLES, "base"), other]);
    await events(["diff", other, other]);
  });

  it("convert: progress and result", async () => {
    const evs = await events(["convert", join(EXAMPLES, "base"), join(tempDir(), "c"), "--dtype", "f16"]);
    expect(types(evs)).toEqual(["start", "progress", "result"]);
  });

  it("multi: a stage event around each merge, progress, and the stages in the result; --lazy reruns skip", async () => {
    const out = tempDir();
    const argv = ["multi", "examples/multi.yml", "-I", join(out, "stages"), "--out-path", join(out, "final")];
    const evs = await events(argv);
    expect(types(evs)).toEqual(["start", "stage", "progress", "result"]);
    const stages = evs.filter((e) => e["type"] === "stage").map((e) => `${String(e["name"])}:${String(e["status"])}`);
    const r = evs[evs.length - 1]!["data"] as { out: string; singlePass: boolean; stages: { name: string | null; status: string; out: string; tensors: number; files: string[] }[] };
    expect(r.out).toBe(join(out, "final"));
    expect(r.singlePass).toBe(false);
    expect(stages).toEqual(r.stages.flatMap((s) => [`${String(s.name)}:start`, `${String(s.name)}:merged`]));
    expect(r.stages[r.stages.length - 1]).toMatchObject({ name: null, status: "merged", out: join(out, "final") });
    for (const s of r.stages) expect(s.files).toContain("config.json");
    expect(evs.filter((e) => e["type"] === "progress").length).toBe(r.stages.reduce((n, s) => n + s.tensors, 0));
    const again = await events(argv);
    expect(types(again)).toEqual(["start", "stage", "result"]);
    expect((again[again.length - 1]!["data"] as { stages: { status: string }[] }).stages.every((s) => s.status === "skipped")).toBe(true);
  });

  it("pytorch: progress, warnings as events (nothing on stderr), the merge in the result", async () => {
    const r = await cli(["pytorch", "examples/pytorch.yml", join(tempDir(), "raw"), "-i", "-u", "--json", "--lazy-unpickle"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const evs = r.events();
    for (const e of evs) expect(validate(JSON_EVENT_SCHEMA, e)).toEqual([]);
    expect(types(evs)).toEqual(["start", "warning", "progress", "result"]);
    expect(evs.filter((e) => e["type"] === "warning").map((e) => e["message"])).toEqual([
      expect.stringContaining("--lazy-unpickle"),
      expect.stringContaining("-i wins"),
    ]);
    expect(r.result()).toMatchObject({ models: 2, method: "linear", files: ["model.safetensors"] });
  });

  it("moe: progress and the built model in the result", async () => {
    const evs = await events(["moe", "examples/moe.yml", join(tempDir(), "moe")]);
    expect(types(evs)).toEqual(["start", "progress", "result"]);
    const r = evs[evs.length - 1]!["data"] as { architecture: string; experts: number; sharedExperts: number; files: string[] };
    expect(r).toMatchObject({ architecture: "Mixtral", experts: 2, sharedExperts: 0 });
    expect(r.files).toContain("config.json");
  });

  it("extract-lora: progress per module and every module's action and rank in the result", async () => {
    const out = join(tempDir(), "lora");
    const evs = await events(["extract-lora", "--model", join(EXAMPLES, "ft_dense"), "--base-model", join(EXAMPLES, "base"), "--out-path", out, "--max-rank", "4"]);
    expect(types(evs)).toEqual(["start", "warning", "progress", "result"]);
    expect(evs.filter((e) => e["type"] === "warning").map((e) => e["message"])).toContainEqual(expect.stringContaining("modules_to_save"));
    const r = evs[evs.length - 1]!["data"] as { out: string; files: string[]; modules: { module: string; action: string; rank: number | null }[]; modulesToSave: string[] };
    expect(r.out).toBe(out);
    expect(r.files).toContain("adapter_model.safetensors");
    const lora = r.modules.filter((m) => m.action === "lora");
    expect(lora.length).toBeGreaterThan(0);
    for (const m of lora) expect(m.rank).toBeLessThanOrEqual(4);
    // modules_to_save holds last name components (as PEFT matches them)
    expect(new Set(r.modules.filter((m) => m.action === "save").map((m) => m.module.split(".").pop()))).toEqual(new Set(r.modulesToSave));
    expect(evs.filter((e) => e["type"] === "progress").length).toBe(r.modules.filter((m) => m.action !== "skip").length);
  });

  it("companion errors become an error event with the stable code", async () => {
    const m = await events(["multi", "examples/multi.yml"], 1);
    expect(m[m.length - 1]).toMatchObject({ type: "error", command: "multi", code: "E_ARGS" });
    const p = await events(["pytorch", "no-such.yml", join(tempDir(), "x")], 1);
    expect(p[p.length - 1]).toMatchObject({ type: "error", command: "pytorch", code: "E_ARGS" });
    const e = await events(["extract-lora", "--model", join(EXAMPLES, "nope"), "--base-model", join(EXAMPLES, "base"), "--out-path", join(tempDir(), "l")], 1);
    expect(e[e.length - 1]).toMatchObject({ type: "error", command: "extract-lora", code: "E_MODEL_NOT_FOUND" });
  });

  it("errors become an error event with the stable code (and exit code 1)", async () => {
    const evs = await events(["explain", "no-such.yml"], 1);
    expect(evs[evs.length - 1]).toMatchObject({ type: "error", command: "explain", code: "E_ARGS" });
    const d = await events(["diff", join(EXAMPLES, "base"), join(EXAMPLES, "nope")], 1);
    expect(d[d.length - 1]).toMatchObject({ type: "error", code: "E_MODEL_NOT_FOUND" });
  });

  it("the schema rejects what the code does not write", () => {
    expect(validate(JSON_EVENT_SCHEMA, { type: "warning", command: "diff", message: "x", extra: 1 })).not.toEqual([]);
    expect(validate(JSON_EVENT_SCHEMA, { type: "result", command: "diff", ok: true, data: {} })).not.toEqual([]);
    expect(validate(JSON_EVENT_SCHEMA, { type: "progress", command: "nope", tensorsDone: 1, tensorsTotal: 1, bytesDone: 0, bytesTotal: 0, tensor: "t" })).not.toEqual([]);
  });
});
