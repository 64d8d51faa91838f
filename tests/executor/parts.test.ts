// A merge split into N parts (N processes, like a Slurm array or an indexed Job) and assembled is
// byte-identical to a one-process merge.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { GOLDEN, tempDir } from "../helpers/run-merge.ts";

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, "..", "..", "bin", "amalgam.js");
const cli = (args: string[]) => run(process.execPath, [BIN, ...args], { cwd: GOLDEN });

function snapshot(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));
}

describe("--shard I/N and assemble", () => {
  for (const n of [1, 3, 6]) {
    it(`${n} concurrent part process(es) + assemble equal one process`, async () => {
      const root = tempDir();
      const whole = join(root, "whole", "merged");
      const parts = join(root, "parts", "merged");
      const flags = ["--out-shard-size", "90K", "--quiet", "--threads", "1"];
      await cli(["merge", "configs/linear.yml", whole, ...flags]);
      await Promise.all(Array.from({ length: n }, (_, i) => cli(["merge", "configs/linear.yml", parts, ...flags, "--shard", `${i + 1}/${n}`])));
      expect(existsSync(join(parts, "config.json"))).toBe(false); // nothing looks finished before assembling
      await cli(["assemble", parts, "--quiet"]);
      const a = snapshot(whole);
      const b = snapshot(parts);
      expect([...b.keys()]).toEqual([...a.keys()]);
      for (const [f, bytes] of a) expect(b.get(f)!.equals(bytes), f).toBe(true);
    });
  }
  it("assemble refuses while a part is missing, naming it", async () => {
    const parts = join(tempDir(), "parts");
    await cli(["merge", "configs/linear.yml", parts, "--out-shard-size", "90K", "--quiet", "--shard", "1/3"]);
    await expect(cli(["assemble", parts])).rejects.toMatchObject({ stderr: expect.stringMatching(/parts 2, 3 of 3 are not finished/) });
  });
});
