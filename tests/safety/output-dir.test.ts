// Filesystem safety of the output: no write outside the output directory (symbolic links are not
// followed, an output inside an input model is refused), a non-empty directory needs --overwrite,
// and full disks and permission errors give a typed error and leave no partial files.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { merge } from "../../src/executor/merge.ts";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { AmalgamError } from "../../src/errors.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { FsOutputSink } from "../../runtimes/node/fs-sink.ts";
import type { FsSinkOp } from "../../runtimes/node/fs-sink.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { tempDir } from "../helpers/run-merge.ts";
import { writeFixture } from "./fixture.ts";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "amalgam.js");
const FLAGS = ["--out-shard-size", "40K", "--threads", "1", "--quiet"];
const isRoot = process.getuid?.() === 0;

function cli(cwd: string, args: string[], asNobody = false): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "ignore", "pipe"], ...(asNobody ? { uid: 65534, gid: 65534 } : {}) });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
    child.on("exit", (code) => done({ code, stderr }));
  });
}

function listing(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

let root: string;
let reference: Map<string, Buffer>;

beforeAll(async () => {
  root = tempDir("amalgam-outdir-");
  chmodSync(root, 0o755); // readable by the unprivileged user of the permission tests
  writeFixture(root, { layers: 6, hidden: 64 });
  const out = join(root, "reference", "merged");
  const r = await cli(root, ["merge", "merge.yml", out, ...FLAGS]);
  expect(r.code, r.stderr).toBe(0);
  reference = new Map(listing(out).map((n) => [n, readFileSync(join(out, n))]));
  expect([...reference.keys()].filter((n) => n.endsWith(".safetensors")).length).toBeGreaterThan(2);
}, 60_000);

function expectReference(out: string): void {
  for (const [n, b] of reference) expect(readFileSync(join(out, n)).equals(b), n).toBe(true);
}

describe("a non-empty output directory", () => {
  it("is refused without --overwrite, untouched", async () => {
    const out = join(root, "nonempty", "merged");
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "notes.txt"), "mine");
    const r = await cli(root, ["merge", "merge.yml", out, ...FLAGS]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[E_OUTPUT_EXISTS\]: .*merged is not empty \(notes\.txt\); pass --overwrite/);
    expect(listing(out)).toEqual(["notes.txt"]);
  });

  it("with --overwrite: same names replaced, other files left, symbolic links replaced and never followed", async () => {
    const out = join(root, "overwrite", "merged");
    mkdirSync(out, { recursive: true });
    const victim = join(root, "victim.bin");
    writeFileSync(victim, "do not touch");
    writeFileSync(join(out, "notes.txt"), "mine");
    const shard = [...reference.keys()].find((n) => n.endsWith(".safetensors"))!;
    symlinkSync(victim, join(out, shard));
    symlinkSync(victim, join(out, "config.json"));
    const r = await cli(root, ["merge", "merge.yml", out, ...FLAGS, "--overwrite"]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("do not touch");
    expect(lstatSync(join(out, shard)).isSymbolicLink()).toBe(false);
    expect(lstatSync(join(out, "config.json")).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(out, "notes.txt"), "utf8")).toBe("mine");
    expectReference(out);
  });

  it("a staging folder that is a symbolic link is refused, and nothing is written through it", async () => {
    const out = join(root, "linked-staging", "merged");
    mkdirSync(out, { recursive: true });
    const elsewhere = join(root, "elsewhere");
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(out, ".amalgam-staging"));
    const r = await cli(root, ["merge", "merge.yml", out, ...FLAGS]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[E_OUTPUT_UNSAFE\]: .*\.amalgam-staging is a symbolic link; refusing to write through it/);
    expect(listing(elsewhere)).toEqual([]);
  });

  it("parts of one merge share a directory without --overwrite, but an unrelated file stops them", async () => {
    const out = join(root, "parts", "merged");
    const a = await cli(root, ["merge", "merge.yml", out, ...FLAGS, "--shard", "1/2"]);
    expect(a.code, a.stderr).toBe(0);
    writeFileSync(join(out, "stray.txt"), "x");
    const b = await cli(root, ["merge", "merge.yml", out, ...FLAGS, "--shard", "2/2"]);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/E_OUTPUT_EXISTS.*stray\.txt/);
    const { rmSync } = await import("node:fs");
    rmSync(join(out, "stray.txt"));
    expect((await cli(root, ["merge", "merge.yml", out, ...FLAGS, "--shard", "2/2"])).code).toBe(0);
    expect((await cli(root, ["assemble", out, "--quiet"])).code).toBe(0);
    expectReference(out);
  });
});

describe("two runs of one merge at once", () => {
  it("the second is refused while the first holds the lock; a lock left by a killed run is taken over", async () => {
    const { hostname } = await import("node:os");
    const out = join(root, "locked-out", "merged");
    mkdirSync(join(out, ".amalgam-staging"), { recursive: true });
    const lock = join(out, ".amalgam-staging", "amalgam-lock.json");
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), since: "now" }));
    const r = await cli(root, ["merge", "merge.yml", out, ...FLAGS]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`error \\[E_OUTPUT_EXISTS\\]: .*merged is being written by another Amalgam process \\(pid ${process.pid}`));
    expect(existsSync(lock)).toBe(true);
    const gone = await new Promise<number>((done) => { const c = spawn(process.execPath, ["-e", ""]); c.on("exit", () => done(c.pid!)); });
    writeFileSync(lock, JSON.stringify({ pid: gone, host: hostname(), since: "then" }));
    const r2 = await cli(root, ["merge", "merge.yml", out, ...FLAGS]);
    expect(r2.code, r2.stderr).toBe(0);
    expectReference(out);
    expect(listing(out).filter((n) => n.startsWith("."))).toEqual([]);
  });
});

describe("an output directory inside an input model", () => {
  it.each([["the model directory itself", "m0"], ["a folder inside it", "m0/merged"], ["a symbolic link to it", "link-to-m1"]])("is refused: %s", async (_, rel) => {
    if (rel === "link-to-m1" && !existsSync(join(root, rel))) symlinkSync(join(root, "m1"), join(root, rel));
    const before = listing(join(root, "m0"));
    const r = await cli(root, ["merge", "merge.yml", join(root, rel), ...FLAGS, "--overwrite"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[E_OUTPUT_UNSAFE\]: output directory .* is (the directory|inside the directory) of input model m[01]/);
    expect(listing(join(root, "m0"))).toEqual(before);
    expect(listing(join(root, "m1"))).toEqual(["config.json", "model.safetensors"]);
  });
});

describe("single-file inputs (mergekit-pytorch)", () => {
  it("the folder holding an input file is refused, a folder below it is not", async () => {
    const { checkOutputOutsideInputs } = await import("../../src/output/output-dir.ts");
    const m = { ref: { text: "/w/a.safetensors" }, files: { dir: { localPath: "/w" } as never, singleFile: "a.safetensors" } };
    expect(() => checkOutputOutsideInputs("/w", [m])).toThrow(/E_OUTPUT_UNSAFE|holds input \/w\/a\.safetensors/);
    expect(() => checkOutputOutsideInputs("/w/out", [m])).not.toThrow();
    const d = { ref: { text: "m0" }, files: { dir: { localPath: "/w" } as never } };
    expect(() => checkOutputOutsideInputs("/w/out", [d])).toThrow(/inside the directory of input model m0/);
    expect(() => checkOutputOutsideInputs("/wx", [d])).not.toThrow();
  });
});

describe("permission errors", () => {
  // As root, the CLI runs as nobody (65534); otherwise read-only modes do it.
  it("an output directory that cannot be created gives E_PERMISSION and leaves nothing", async () => {
    const parent = join(root, "locked");
    mkdirSync(parent, { mode: 0o755 });
    if (!isRoot) chmodSync(parent, 0o555);
    const r = await cli(root, ["merge", "merge.yml", join(parent, "merged"), ...FLAGS], isRoot);
    if (!isRoot) chmodSync(parent, 0o755);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[E_PERMISSION\]: cannot create output directory .*merged: permission denied \(EACCES\)/);
    expect(listing(parent)).toEqual([]);
  });

  it("a read-only output directory gives E_PERMISSION and leaves it as it was", async () => {
    const out = join(root, "readonly", "merged");
    mkdirSync(out, { recursive: true, mode: 0o755 });
    chmodSync(join(root, "readonly"), 0o755);
    if (!isRoot) chmodSync(out, 0o555);
    const r = await cli(root, ["merge", "merge.yml", out, ...FLAGS], isRoot);
    if (!isRoot) chmodSync(out, 0o755);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[E_PERMISSION\]: cannot write in output directory .*merged: permission denied \(EACCES\)/);
    expect(listing(out)).toEqual([]);
  });
});

describe("a full disk (ENOSPC injected into the sink)", () => {
  const enospc = () => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });

  async function run(out: string, inject?: (op: FsSinkOp, path: string) => void, seen: { kept?: readonly string[]; warnings: string[] } = { warnings: [] }) {
    const yaml = readFileSync(join(root, "merge.yml"), "utf8");
    return merge(parseMergeConfig(yaml, "merge.yml"), {
      resolveModel: fsResolver(root), sink: await FsOutputSink.create(out, { inject }), kernels: await loadKernelModule(),
      outputName: "merged", outShardSize: 40_000, onWarning: (m) => seen.warnings.push(m), onResume: (k) => { seen.kept = k; },
    });
  }

  it("on the first write: E_NO_SPACE, and the output directory it created is gone", async () => {
    const out = join(root, "full-1", "merged");
    const e = await run(out, (op) => { if (op === "write") throw enospc(); }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AmalgamError);
    expect((e as AmalgamError).code).toBe("E_NO_SPACE");
    expect((e as AmalgamError).message).toMatch(/cannot write model-00001-of-\d+\.safetensors in .*merged: no space left on the device \(ENOSPC\)/);
    expect(existsSync(out)).toBe(false);
  });

  it("in the third shard: finished shards are kept hidden for a resume, no partial file, nothing visible; the rerun resumes", async () => {
    const out = join(root, "full-3", "merged");
    const seen = { warnings: [] as string[] };
    const e = await run(out, (op, path) => { if (op === "write" && /model-00003-of-/.test(path)) throw enospc(); }, seen).catch((x: unknown) => x);
    expect((e as AmalgamError).code).toBe("E_NO_SPACE");
    expect(listing(out)).toEqual([".amalgam-staging"]);
    expect(listing(join(out, ".amalgam-staging"))).toEqual(["amalgam-progress.json", expect.stringMatching(/^model-00001-of-/), expect.stringMatching(/^model-00002-of-/)]);
    expect(seen.warnings.join("\n")).toMatch(/2 finished shard\(s\) are kept in .*\.amalgam-staging: running the same merge into the same directory resumes/);
    const again = { warnings: [] as string[], kept: undefined as readonly string[] | undefined };
    const r = await run(out, undefined, again);
    expect(r.resumed).toHaveLength(2);
    expect(again.kept).toHaveLength(2);
    expectReference(out);
    expect(listing(out).filter((n) => n.startsWith("."))).toEqual([]);
  });

  it("after the last shard, before the commit: every shard but the last is recorded and kept (the last is not hashed), the rerun merges only that one again", async () => {
    const out = join(root, "full-last", "merged");
    const seen = { warnings: [] as string[] };
    // the first file after the shards (the model files), not the progress record
    const e = await run(out, (op, path) => { if (op === "open" && !/\.safetensors|amalgam-progress/.test(path)) throw enospc(); }, seen).catch((x: unknown) => x);
    expect((e as AmalgamError).code).toBe("E_NO_SPACE");
    const shards = [...reference.keys()].filter((n) => n.endsWith(".safetensors"));
    expect(listing(out)).toEqual([".amalgam-staging"]);
    expect(listing(join(out, ".amalgam-staging"))).toEqual(["amalgam-progress.json", ...shards.slice(0, -1)]);
    const record = JSON.parse(readFileSync(join(out, ".amalgam-staging", "amalgam-progress.json"), "utf8")) as { files: Record<string, unknown> };
    expect(Object.keys(record.files).sort()).toEqual(shards.slice(0, -1));
    const again = { warnings: [] as string[], kept: undefined as readonly string[] | undefined };
    const r = await run(out, undefined, again);
    expect([...r.resumed].sort()).toEqual(shards.slice(0, -1));
    expectReference(out);
    expect(listing(out).filter((n) => n.startsWith("."))).toEqual([]);
  });

  it("a permission error while creating the staging folder is E_PERMISSION", async () => {
    const out = join(root, "eacces", "merged");
    mkdirSync(out, { recursive: true });
    const e = await run(out, (op, path) => { if (op === "mkdir" && path.endsWith(".amalgam-staging")) throw Object.assign(new Error("EACCES"), { code: "EACCES" }); }).catch((x: unknown) => x);
    expect((e as AmalgamError).code).toBe("E_PERMISSION");
    expect(listing(out)).toEqual([]);
  });
});

describe("a merge that stops before writing closes its inputs", () => {
  const fds = () => readdirSync("/proc/self/fd").length;
  it.skipIf(!existsSync("/proc/self/fd"))("E_OUTPUT_EXISTS, E_OUTPUT_UNSAFE and E_ARGS from the library leave no model file open", async () => {
    const yaml = readFileSync(join(root, "merge.yml"), "utf8");
    const kernels = await loadKernelModule();
    const attempt = async (out: string, extra: Record<string, unknown> = {}) => {
      try {
        await merge(parseMergeConfig(yaml, "merge.yml"), { resolveModel: fsResolver(root), sink: await FsOutputSink.create(out), kernels, outputName: "merged", outShardSize: 40_000, ...extra });
        return "merged";
      } catch (e) {
        if (!(e instanceof AmalgamError)) throw e;
        return e.code;
      }
    };
    const full = join(tempDir("amalgam-fds-"), "out");
    mkdirSync(full, { recursive: true });
    writeFileSync(join(full, "notes.txt"), "mine");
    const inputDir = readdirSync(root).find((n) => existsSync(join(root, n, "config.json")))!;
    await attempt(full); // warm up: the module, the thread-independent caches
    const before = fds();
    for (let i = 0; i < 5; i++) {
      expect(await attempt(full)).toBe("E_OUTPUT_EXISTS");
      expect(await attempt(join(root, inputDir, "out"))).toBe("E_OUTPUT_UNSAFE");
      expect(await attempt(join(tempDir("amalgam-fds-"), "out"), { part: { index: 3, count: 2 } })).toBe("E_ARGS");
    }
    expect(fds()).toBeLessThanOrEqual(before);
  });
});
