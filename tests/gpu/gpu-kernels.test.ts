// The WGSL kernels on a real WebGPU implementation: Deno's navigator.gpu, on lavapipe (Mesa's CPU
// Vulkan driver, installed by .ci/run) in CI. runtimes/deno/gpu-check.ts compares every kernel and
// the GPU versions of linear, task_arithmetic and ties with the WASM path bit for bit, on small
// tensors in 4096-element chunks and on medium ones, then merges the golden configs on the GPU.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "..", "..");
const DENO = join(ROOT, "node_modules", ".bin", "deno");

interface CheckSummary {
  readonly adapter: { readonly description: string; readonly isFallback: boolean } | null;
  readonly passed?: number;
  readonly failed?: number;
  readonly failures?: readonly { name: string; detail?: string }[];
}

let summary: CheckSummary;
let log = "";

beforeAll(async () => {
  // XDG_RUNTIME_DIR: Mesa's Vulkan loader complains on stderr without one
  const env = { ...process.env, XDG_RUNTIME_DIR: mkdtempSync(join(tmpdir(), "amalgam-xdg-")) };
  const r = await run(DENO, ["run", "-A", join(ROOT, "runtimes", "deno", "gpu-check.ts"), "--medium", String(1 << 19)], { cwd: ROOT, env, maxBuffer: 1 << 24 })
    .catch((e: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: e.stdout ?? "", stderr: e.stderr ?? "" }));
  log = r.stdout + r.stderr;
  const last = r.stdout.trim().split("\n").pop() ?? "";
  summary = last.startsWith("{") ? (JSON.parse(last) as CheckSummary) : { adapter: null, failed: 1, failures: [{ name: "gpu-check did not finish", detail: log.slice(-2000) }] };
}, 180_000);

describe("WGSL kernels under Deno's WebGPU", () => {
  it("find a WebGPU adapter (CI installs mesa-vulkan-drivers)", (ctx) => {
    if (summary.adapter === null && summary.failed === undefined && process.env["CI"] !== "true") {
      ctx.skip(); // no Vulkan driver on this machine: `apt-get install mesa-vulkan-drivers`
    }
    expect(summary.adapter, log.slice(-2000)).not.toBeNull();
  });

  it("agree with the WASM kernels bit for bit, chunked and medium, and merge the golden configs", (ctx) => {
    if (summary.adapter === null && summary.failed === undefined && process.env["CI"] !== "true") ctx.skip();
    expect(summary.failures ?? [], log.slice(-4000)).toEqual([]);
    expect(summary.failed).toBe(0);
    expect(summary.passed).toBeGreaterThan(150);
  });
});
