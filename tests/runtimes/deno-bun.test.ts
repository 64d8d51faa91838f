// The real Deno and Bun binaries (npm packages `deno` and `bun`) run the same CLI and write the
// same bytes as MergeKit / Node, single-threaded and with Web Worker threads.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { GOLDEN, tempDir } from "../helpers/run-merge.ts";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "..", "..");
const DENO = join(ROOT, "node_modules", ".bin", "deno");
const BUN = join(ROOT, "node_modules", ".bin", "bun");

const runtimes = [
  { name: "deno", cmd: DENO, args: ["run", "-A", join(ROOT, "runtimes", "deno", "cli.ts")] },
  { name: "bun", cmd: BUN, args: [join(ROOT, "runtimes", "bun", "cli.ts")] },
];

describe("Deno and Bun hosts", () => {
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
    it(`${rt.name} reports a config error with exit code 1 and the config path`, async () => {
      const err = await run(rt.cmd, [...rt.args, "merge", join(ROOT, "tests", "golden", "configs", "missing.yml"), join(tempDir(), "x")], { cwd: GOLDEN }).catch((e: { code: number; stderr: string }) => e);
      expect((err as { code: number }).code).toBe(1);
      expect((err as { stderr: string }).stderr).toMatch(/cannot read config .*missing\.yml/);
    });
  }
});
