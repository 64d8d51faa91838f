// The real Deno and Bun binaries (npm packages `deno` and `bun`) run the same CLI and write the
// same bytes as MergeKit / Node, single-threaded and with Web Worker threads.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOLDEN, tempDir } from "../helpers/run-merge.ts";
import { startRangeServer } from "../helpers/range-server.ts";
import type { RangeServer } from "../helpers/range-server.ts";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "..", "..");
const DENO = join(ROOT, "node_modules", ".bin", "deno");
const BUN = join(ROOT, "node_modules", ".bin", "bun");

let server: RangeServer;
beforeAll(async () => { server = await startRangeServer(join(GOLDEN, "models")); });
afterAll(async () => { await server.close(); });

const runtimes = [
  { name: "node", cmd: process.execPath, args: [join(ROOT, "bin", "amalgam.js")] },
  { name: "deno", cmd: DENO, args: ["run", "-A", join(ROOT, "runtimes", "deno", "cli.ts")] },
  { name: "bun", cmd: BUN, args: [join(ROOT, "runtimes", "bun", "cli.ts")] },
];

describe("Node, Deno and Bun hosts", () => {
  for (const rt of runtimes) {
    it(`${rt.name} binary is installed`, () => expect(existsSync(rt.cmd)).toBe(true));
    for (const threads of [1, 2]) {
      it(`${rt.name} merges the golden linear, passthrough and frankenmerge configs bit-identically (${threads} thread(s))`, async () => {
        const out = tempDir();
        for (const name of ["linear", "passthrough", "frankenmerge"]) {
          await run(rt.cmd, [...rt.args, "merge", `configs/${name}.yml`, join(out, name), "--quiet", "--threads", String(threads)], { cwd: GOLDEN, env: { ...process.env, NO_COLOR: "1" } });
          const got = readFileSync(join(out, name, "model.safetensors"));
          expect(got.equals(readFileSync(join(GOLDEN, "reference", name, "model.safetensors"))), `${rt.name} ${name}`).toBe(true);
        }
      });
    }
    it(`${rt.name} merges the golden ties config streamed in passes under a small budget, with threads and the read-ahead, bit-identically`, async () => {
      // --memory-budget 64K streams the tensors in passes over tiles; with 2 threads the kept
      // inputs of the tensors ahead are read while earlier ones run (src/executor/read-ahead.ts)
      const out = tempDir();
      for (const threads of [1, 2]) {
        const dir = join(out, `ties-${threads}`);
        await run(rt.cmd, [...rt.args, "merge", "configs/ties.yml", dir, "--quiet", "--threads", String(threads), "--memory-budget", "64K"], { cwd: GOLDEN, env: { ...process.env, NO_COLOR: "1" } });
        const got = readFileSync(join(dir, "model.safetensors"));
        expect(got.equals(readFileSync(join(GOLDEN, "reference-stable", "ties", "model.safetensors"))), `${rt.name} ties, ${threads} thread(s)`).toBe(true);
      }
    });
    it(`${rt.name} merges models served over HTTP Range, fetching only part of the files`, async () => {
      const dir = tempDir();
      const yaml = readFileSync(join(GOLDEN, "configs", "linear.yml"), "utf8").replaceAll("models/tiny-bf16/", `${server.url}/tiny-bf16/`);
      writeFileSync(join(dir, "remote.yml"), yaml);
      const before = server.stats.ranges.length;
      await run(rt.cmd, [...rt.args, "merge", join(dir, "remote.yml"), join(dir, "linear"), "--quiet"], { cwd: dir });
      expect(readFileSync(join(dir, "linear", "model.safetensors")).equals(readFileSync(join(GOLDEN, "reference", "linear", "model.safetensors")))).toBe(true);
      expect(server.stats.ranges.length).toBeGreaterThan(before);
    });
    it(`${rt.name} reports a config error with exit code 1 and the config path`, async () => {
      const err = await run(rt.cmd, [...rt.args, "merge", join(ROOT, "tests", "golden", "configs", "missing.yml"), join(tempDir(), "x")], { cwd: GOLDEN }).catch((e: { code: number; stderr: string }) => e);
      expect((err as { code: number }).code).toBe(1);
      expect((err as { stderr: string }).stderr).toMatch(/cannot read config .*missing\.yml/);
    });
  }
});
