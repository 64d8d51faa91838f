// The CLI killed with SIGKILL at random moments: the output directory never looks complete while
// it is not (config.json appears last, and only with every other file final), no visible file is
// ever partial, and running the same command again finishes byte-identical to a run that was
// never interrupted, reusing the shards the killed runs finished.
//
// Short in the suite; the long version: AMALGAM_KILL_RUNS=500 AMALGAM_KILLS_PER_RUN=3 npx vitest
// run tests/safety/kill-resume.test.ts (results in the README).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../../src/fuzz/rng.ts";
import { tempDir } from "../helpers/run-merge.ts";
import { writeFixture } from "./fixture.ts";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "amalgam.js");
const RUNS = Number(process.env["AMALGAM_KILL_RUNS"] ?? 8);
const KILLS = Number(process.env["AMALGAM_KILLS_PER_RUN"] ?? 1);
const FLAGS = ["--out-shard-size", "60K", "--threads", "1", "--quiet"];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
}

/**
 * Runs the CLI; with `kill`, sends SIGKILL after `afterMs`, or as soon as `when()` holds (polled
 * every 2 ms: the moments worth killing at are short), whichever comes first.
 */
function cli(cwd: string, args: string[], kill?: { afterMs: number; when?: () => boolean }): Promise<Run> {
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
    const timer = kill ? setTimeout(() => child.kill("SIGKILL"), kill.afterMs) : undefined;
    const poll = kill?.when ? setInterval(() => { if (kill.when!()) child.kill("SIGKILL"); }, 2) : undefined;
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      clearInterval(poll);
      done({ code, signal, stderr, ms: performance.now() - t0 });
    });
  });
}

/** Shards the progress record of a run into `out` lists (0 when there is none or it is being replaced). */
function recorded(out: string): number {
  try {
    return Object.keys((JSON.parse(readFileSync(join(out, ".amalgam-staging", "amalgam-progress.json"), "utf8")) as { files: object }).files).length;
  } catch {
    return 0;
  }
}

function snapshot(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).filter((n) => !n.startsWith(".")).sort().map((n) => [n, readFileSync(join(dir, n))]));
}

let root: string;
let reference: Map<string, Buffer>;
let fullMs: number;
let shardCount: number;

beforeAll(async () => {
  root = tempDir("amalgam-kill-");
  writeFixture(root, { layers: 8, hidden: 96 });
  const out = join(root, "reference", "merged");
  const r = await cli(root, ["merge", "merge.yml", out, ...FLAGS]);
  expect(r.code, r.stderr).toBe(0);
  fullMs = r.ms;
  reference = snapshot(out);
  shardCount = [...reference.keys()].filter((n) => n.endsWith(".safetensors")).length;
  expect(shardCount).toBeGreaterThan(8);
}, 60_000);

/** What a killed run may leave: nothing visible that is not final, config.json only when complete. */
function checkInvariants(out: string, where: string): { complete: boolean; visible: number } {
  if (!existsSync(out)) return { complete: false, visible: 0 };
  const files = snapshot(out);
  for (const [name, bytes] of files) {
    const ref = reference.get(name);
    expect(ref, `${where}: unexpected visible file ${name}`).toBeDefined();
    expect(bytes.equals(ref!), `${where}: visible ${name} differs from the uninterrupted run`).toBe(true);
  }
  const complete = files.has("config.json");
  if (complete) expect([...files.keys()], `${where}: config.json is there, so everything must be`).toEqual([...reference.keys()]);
  return { complete, visible: files.size };
}

describe("SIGKILL at random points, then resume", () => {
  it(`${RUNS} run(s), ${KILLS} kill(s) each: never looks complete early; the resumed output is byte-identical`, async () => {
    const rng = new Rng(0x5eed);
    const stats = { kills: 0, killedBeforeOutput: 0, killedMidMerge: 0, killedWithPartialOutput: 0, killedComplete: 0, finishedBeforeKill: 0, resumedRuns: 0, shardsReused: 0 };
    for (let run = 0; run < RUNS; run++) {
      const base = join(root, `run-${run}`);
      mkdirSync(base, { recursive: true });
      const out = join(base, "merged");
      for (let k = 0; k < KILLS; k++) {
        // Three kinds of moment: any time; after k shards are recorded; when the commit has begun.
        const mode = rng.int(3);
        const k = 1 + rng.int(shardCount - 1);
        const when = mode === 1 ? () => recorded(out) >= k : mode === 2 ? () => existsSync(out) && readdirSync(out).some((n) => !n.startsWith(".")) : undefined;
        const r = await cli(root, ["merge", "merge.yml", out, ...FLAGS], { afterMs: mode === 0 ? fullMs * 1.1 * rng.float() : 30_000, when });
        if (r.signal === "SIGKILL") stats.kills++;
        else {
          expect(r.code, r.stderr).toBe(0);
          stats.finishedBeforeKill++;
        }
        const s = checkInvariants(out, `run ${run}, kill ${k}`);
        if (existsSync(join(out, ".amalgam-staging", "amalgam-progress.json"))) stats.killedMidMerge++;
        if (s.complete) stats.killedComplete++;
        else if (s.visible) stats.killedWithPartialOutput++;
        else stats.killedBeforeOutput++;
        if (s.complete) break;
      }
      // Nothing is complete yet (or it is, and a rerun needs --overwrite): finish the merge.
      const done = checkInvariants(out, `run ${run} before resuming`).complete;
      const r = await cli(root, ["merge", "merge.yml", out, ...FLAGS.filter((f) => f !== "--quiet"), ...(done ? ["--overwrite"] : [])]);
      expect(r.code, r.stderr).toBe(0);
      const m = /resuming: (\d+) of \d+ shard/.exec(r.stderr);
      if (m) { stats.resumedRuns++; stats.shardsReused += Number(m[1]); }
      const final = snapshot(out);
      expect([...final.keys()]).toEqual([...reference.keys()]);
      for (const [n, b] of reference) expect(final.get(n)!.equals(b), `run ${run}: ${n}`).toBe(true);
      expect(readdirSync(out).filter((n) => n.startsWith(".amalgam"))).toEqual([]);
    }
    writeFileSync(join(root, "kill-stats.json"), JSON.stringify({ runs: RUNS, killsPerRun: KILLS, fullMs, ...stats }));
    console.log(`kill/resume: ${RUNS} runs, ${JSON.stringify(stats)}, uninterrupted run ${fullMs.toFixed(0)} ms`);
  }, 120_000 + RUNS * KILLS * 4000);

  it("a resumed run keeps verified shards and merges a tampered one again", async () => {
    const out = join(root, "tamper", "merged");
    // Let a run finish, then put its finished shards back into staging as if it had been killed.
    const first = await cli(root, ["merge", "merge.yml", out, ...FLAGS]);
    expect(first.code).toBe(0);
    const staging = join(out, ".amalgam-staging");
    mkdirSync(staging);
    const shards = [...reference.keys()].filter((n) => n.endsWith(".safetensors"));
    const { rmSync, renameSync } = await import("node:fs");
    for (const n of shards.slice(0, 4)) renameSync(join(out, n), join(staging, n));
    for (const n of readdirSync(out)) if (!n.startsWith(".")) rmSync(join(out, n));
    // The progress record a killed run leaves, written as the merge would.
    const { BlockHasher, serializeProgress, resumeKey } = await import("../../src/output/manifest.ts");
    const files = new Map<string, { bytes: number; hash: string }>();
    for (const n of shards.slice(0, 4)) {
      const h = new BlockHasher();
      h.update(readFileSync(join(staging, n)));
      files.set(n, { bytes: h.bytes, hash: await h.digest() });
    }
    const { buildPlan } = await import("../../src/plan/build-plan.ts");
    const { parseMergeConfig } = await import("../../src/config/parse-config.ts");
    const { fsResolver } = await import("../../runtimes/node/fs-model.ts");
    const plan = await buildPlan(parseMergeConfig(readFileSync(join(root, "merge.yml"), "utf8"), "merge.yml"), { resolveModel: fsResolver(root), outShardSize: 60_000 });
    for (const m of plan.models) await m.files.dir.close?.();
    const key = await resumeKey(plan, { outShardSize: 60_000, outputName: "merged" });
    writeFileSync(join(staging, "amalgam-progress.json"), serializeProgress({ key, files }));
    // One staged shard is damaged after it was recorded.
    const damaged = readFileSync(join(staging, shards[1]!));
    damaged[damaged.length - 1] = damaged[damaged.length - 1]! ^ 0xff;
    writeFileSync(join(staging, shards[1]!), damaged);
    const r = await cli(root, ["merge", "merge.yml", out, ...FLAGS.filter((f) => f !== "--quiet")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`resuming: 3 of ${shards.length} shard\\(s\\)`));
    const final = snapshot(out);
    for (const [n, b] of reference) expect(final.get(n)!.equals(b), n).toBe(true);
  }, 60_000);

  it("an unfinished merge of another config is not resumed: --overwrite discards it, --no-resume starts over", async () => {
    const out = join(root, "other", "merged");
    mkdirSync(join(out, ".amalgam-staging"), { recursive: true });
    writeFileSync(join(out, ".amalgam-staging", "amalgam-progress.json"), JSON.stringify({ amalgamProgress: 1, hash: "xxh3-128-blocks-16m", key: "0".repeat(64), files: {} }));
    const r = await cli(root, ["merge", "merge.yml", out, ...FLAGS]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[E_OUTPUT_EXISTS\]: .* holds an unfinished merge of another config, options or inputs/);
    expect(existsSync(join(out, ".amalgam-staging", "amalgam-progress.json"))).toBe(true); // untouched
    const r2 = await cli(root, ["merge", "merge.yml", out, ...FLAGS, "--overwrite"]);
    expect(r2.code, r2.stderr).toBe(0);
    const final = snapshot(out);
    for (const [n, b] of reference) expect(final.get(n)!.equals(b), n).toBe(true);
  }, 60_000);
});
