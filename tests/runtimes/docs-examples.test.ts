// The library examples of docs/runtimes.md for Node, Deno and Bun, run as written by the real
// binaries (only the output folder changes, and imports of "amalgam" point at this checkout):
// each must write the same model.safetensors as the Node CLI. The Workers and browser examples
// run in tests/runtimes/workers.test.ts and browser.test.ts.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/run-merge.ts";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "..", "..");
const DOC = join(ROOT, "docs", "runtimes.md");

/** The fenced code block after `<!-- example:NAME -->` in docs/runtimes.md. */
function docExample(name: string): string {
  const m = new RegExp(`<!-- example:${name} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\``).exec(readFileSync(DOC, "utf8"));
  if (!m) throw new Error(`docs/runtimes.md has no example:${name} block`);
  return m[1]!;
}

/** The example with its output folder moved to `out` and package imports resolved to this checkout. */
function localized(code: string, out: string): string {
  return code
    .replace(/"out\/[\w-]+"/g, JSON.stringify(out))
    .replaceAll('from "amalgam"', `from ${JSON.stringify(join(ROOT, "dist", "src", "index.js"))}`)
    .replaceAll('from "amalgam/node"', `from ${JSON.stringify(join(ROOT, "dist", "runtimes", "node", "index.js"))}`)
    .replaceAll('from "./runtimes/', `from ${JSON.stringify(`${ROOT}/runtimes/`).slice(0, -1)}`);
}

let cli: Buffer;
beforeAll(async () => {
  const out = join(tempDir(), "cli");
  await run(process.execPath, [join(ROOT, "bin", "amalgam.js"), "merge", "examples/linear.yml", out, "--quiet"], { cwd: ROOT });
  cli = readFileSync(join(out, "model.safetensors"));
}, 60_000);

const runtimes = [
  { name: "node", ext: "mjs", cmd: (f: string) => [process.execPath, [f]] as const },
  { name: "deno", ext: "ts", cmd: (f: string) => [join(ROOT, "node_modules", ".bin", "deno"), ["run", "-A", f]] as const },
  { name: "bun", ext: "ts", cmd: (f: string) => [join(ROOT, "node_modules", ".bin", "bun"), [f]] as const },
];

describe("docs/runtimes.md library examples", () => {
  for (const rt of runtimes) {
    it(`the ${rt.name} example merges examples/linear.yml into the same bytes as the CLI`, async () => {
      // inside the checkout (.cache/ is ignored), so Deno finds package.json and its npm imports
      mkdirSync(join(ROOT, ".cache"), { recursive: true });
      const dir = mkdtempSync(join(ROOT, ".cache", "docs-example-"));
      try {
        const out = join(dir, "out");
        const file = join(dir, `merge.${rt.ext}`);
        writeFileSync(file, localized(docExample(rt.name), out));
        const [cmd, args] = rt.cmd(file);
        const { stdout } = await run(cmd, [...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } });
        expect(stdout).toMatch(/wrote model\.safetensors, config\.json/);
        expect(readFileSync(join(out, "model.safetensors")).equals(cli)).toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
