// Remote models from servers that lie: every lie ends in a typed error after bounded retries (or,
// when a retry gets an honest answer, in the right bytes), never in a silently wrong tensor, and a
// failed merge leaves no output files.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { AmalgamError } from "../../src/errors.ts";
import { merge } from "../../src/executor/merge.ts";
import { httpResolver } from "../../src/io/http-model.ts";
import type { HttpOptions } from "../../src/io/http-model.ts";
import { FsOutputSink } from "../../runtimes/node/fs-sink.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { startLyingServer } from "../helpers/lying-server.ts";
import type { Lie, LieContext, LyingServer, Validators } from "../helpers/lying-server.ts";
import { GOLDEN, tempDir } from "../helpers/run-merge.ts";

const MODELS = join(GOLDEN, "models");
const MODEL = "tiny-bf16/ft_rows";
const LOCAL = readFileSync(join(MODELS, MODEL, "model.safetensors"));
const FAST: HttpOptions = { retries: 3, backoffMs: 1, timeoutMs: 300, minBytesPerSecond: 64 * 1024 };

const servers: LyingServer[] = [];
afterEach(async () => { for (const s of servers.splice(0)) await s.close(); });

async function serve(lie: (c: LieContext) => Lie | undefined): Promise<LyingServer> {
  const s = await startLyingServer(MODELS, lie);
  servers.push(s);
  return s;
}

/** A data read of the model's weights (the first two range requests read the header). */
const dataRead = (c: LieContext) => c.path.endsWith("/model.safetensors") && c.range !== undefined && c.n >= 2;

/** A passthrough of one remote model: its output is the model file itself. */
async function mergeFrom(url: string, http: HttpOptions = FAST): Promise<{ out: string; error?: AmalgamError }> {
  const out = join(tempDir("amalgam-lying-"), "merged");
  try {
    await merge(parseMergeConfig(`merge_method: passthrough\nmodels:\n  - model: ${url}/${MODEL}\n`, "remote.yml"), {
      resolveModel: httpResolver(http), sink: await FsOutputSink.create(out), kernels: await loadKernelModule(), outputName: "merged",
    });
    return { out };
  } catch (e) {
    if (!(e instanceof AmalgamError)) throw e;
    return { out, error: e };
  }
}

function expectNoOutput(out: string): void {
  expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
}

function expectRightBytes(out: string): void {
  expect(readFileSync(join(out, "model.safetensors")).equals(LOCAL)).toBe(true);
}

describe("servers that lie about ranges and bodies", () => {
  it.each<[string, Lie, string, RegExp]>([
    ["a wrong Content-Range", { kind: "wrong-content-range" }, "E_REMOTE", /server answered bytes \d+-\d+ with Content-Range "bytes \d+-\d+\/\d+" \(gave up after 3 attempts\)/],
    ["a shifted body (with a Content-Range that admits it)", { kind: "shifted-body", by: 2 }, "E_REMOTE", /server answered bytes \d+-\d+ with Content-Range/],
    ["a longer body than asked for", { kind: "long-body" }, "E_REMOTE", /server sent more than the \d+ bytes asked for \(gave up after 3 attempts\)/],
    ["a 200 with the whole file instead of the range", { kind: "ignore-range" }, "E_REMOTE", /expected 206 Partial Content for bytes \d+-\d+, got HTTP 200/],
    ["a short body every time", { kind: "short-body", keep: 10 }, "E_IO", /body ended after 10 of \d+ bytes .*\(gave up after 3 attempts\)/],
    ["an error status every time", { kind: "status", status: 503 }, "E_IO", /HTTP 503 \(gave up after 3 attempts\)/],
  ])("%s: a typed error after bounded retries, no output", async (_, lie, code, re) => {
    const server = await serve((c) => (dataRead(c) ? lie : undefined));
    const { out, error } = await mergeFrom(server.url);
    expect(error?.code).toBe(code);
    expect(error?.message).toMatch(new RegExp(`${MODEL}/model\\.safetensors: .*${re.source}`));
    expect(server.log.filter((r) => r.lie !== "honest").length).toBeLessThanOrEqual(3); // bounded: 3 attempts, then the merge stops
    expectNoOutput(out);
  });

  it.each<[string, (c: LieContext) => Lie | undefined]>([
    ["a body cut short once", (c) => (dataRead(c) && c.n === 2 ? { kind: "short-body", keep: 100 } : undefined)],
    ["two 503s", (c) => (dataRead(c) && c.n < 4 ? { kind: "status", status: 503 } : undefined)],
    ["a wrong Content-Range once", (c) => (dataRead(c) && c.n === 3 ? { kind: "wrong-content-range" } : undefined)],
  ])("%s, then honest answers: the merge retries and ends with the right bytes", async (_, lie) => {
    const server = await serve(lie);
    const { out, error } = await mergeFrom(server.url);
    expect(error).toBeUndefined();
    expectRightBytes(out);
  });
});

describe("a file that changes during the merge", () => {
  it.each<[string, Validators, number, RegExp]>([
    ["new content and a new ETag", "both", 0, /the file changed during the merge \(etag "v1-\d+" became etag "v2-\d+"\)/],
    ["new content and a new Last-Modified (a server without ETags)", "last-modified", 0, /the file changed during the merge \(last-modified Mon, 01 .* became last-modified Mon, 02 .*\)/],
    ["a new size (a server without validators)", "none", 64, /the file changed during the merge \(its size was \d+, the server now says \d+\)/],
  ])("%s: E_REMOTE_CHANGED at once, no output", async (_, validators, grow, re) => {
    const server = await startLyingServer(MODELS, (c) => (dataRead(c) && c.n >= 3 ? { kind: "changed", grow } : undefined), validators);
    servers.push(server);
    const { out, error } = await mergeFrom(server.url);
    expect(error?.code).toBe("E_REMOTE_CHANGED");
    expect(error?.message).toMatch(re);
    expect(server.log.filter((r) => r.lie === "changed").length).toBe(1); // not retried: a change is final
    expectNoOutput(out);
  });

  it("a file removed mid-merge (404 on a range) is E_IO at once; one cut short (416) is E_REMOTE_CHANGED", async () => {
    const gone = await serve((c) => (dataRead(c) ? { kind: "status", status: 404 } : undefined));
    const a = await mergeFrom(gone.url);
    expect(a.error?.code).toBe("E_IO");
    expect(a.error?.message).toMatch(/HTTP 404 for bytes \d+-\d+: the file is gone \(removed during the merge\?\)/);
    expect(gone.log.filter((r) => r.lie === "status").length).toBe(1);
    expectNoOutput(a.out);
    const shorter = await serve((c) => (dataRead(c) ? { kind: "status", status: 416 } : undefined));
    const b = await mergeFrom(shorter.url);
    expect(b.error?.code).toBe("E_REMOTE_CHANGED");
    expect(b.error?.message).toMatch(/HTTP 416 for bytes \d+-\d+ of a \d+-byte file: it is shorter now/);
    expectNoOutput(b.out);
  });
});

describe("redirects", () => {
  it("to another host: refused (E_REMOTE), the other host never asked", async () => {
    const other = await serve(() => undefined);
    const port = new URL(other.url).port;
    const server = await serve((c) => (dataRead(c) ? { kind: "redirect", location: `http://localhost:${port}${c.path}` } : undefined));
    const { out, error } = await mergeFrom(server.url);
    expect(error?.code).toBe("E_REMOTE");
    expect(error?.message).toMatch(new RegExp(`redirect from 127\\.0\\.0\\.1:\\d+ to http://localhost:${port} refused \\(another host; allowed: 127\\.0\\.0\\.1:\\d+\\)`));
    expect(other.log).toEqual([]);
    expectNoOutput(out);
  });

  it("within the same host: followed, right bytes", async () => {
    const server = await serve((c) => (dataRead(c) && !c.url.includes("?moved") ? { kind: "redirect", location: `${c.path}?moved` } : undefined));
    const { out, error } = await mergeFrom(server.url);
    expect(error).toBeUndefined();
    expectRightBytes(out);
    expect(server.log.some((r) => r.lie === "redirect")).toBe(true);
  });

  it("in a loop: E_REMOTE after 5 redirects", async () => {
    const server = await serve((c) => (dataRead(c) ? { kind: "redirect", location: c.url } : undefined));
    const { error } = await mergeFrom(server.url);
    expect(error?.code).toBe("E_REMOTE");
    expect(error?.message).toMatch(/more than 5 redirects/);
  });

  it("to an allowed host: followed, and the token stays with the host it was meant for", async () => {
    const other = await serve(() => undefined);
    const port = new URL(other.url).port;
    const server = await serve((c) => (dataRead(c) ? { kind: "redirect", location: `http://localhost:${port}${c.path}` } : undefined));
    const { out, error } = await mergeFrom(server.url, { ...FAST, token: "secret", redirectHosts: ["localhost"] });
    expect(error).toBeUndefined();
    expectRightBytes(out);
    expect(server.log.every((r) => r.authorization === "Bearer secret")).toBe(true);
    expect(other.log.length).toBeGreaterThan(0);
    expect(other.log.every((r) => r.authorization === undefined)).toBe(true);
  });
});

describe("slow servers", () => {
  it.each<[string, Lie, RegExp]>([
    ["a slow drip", { kind: "drip", bytes: 16, everyMs: 20 }, /body stopped after \d+ of \d+ bytes: the body came slower than 65536 bytes\/s \(gave up after 2 attempts\)/],
    ["headers, then nothing", { kind: "stall" }, /body stopped after 0 of \d+ bytes: no data for 300 ms \(gave up after 2 attempts\)/],
    ["no answer at all", { kind: "silent" }, /no data for 300 ms \(gave up after 2 attempts\)/],
  ])("%s: E_TIMEOUT after bounded retries, no output", async (_, lie, re) => {
    const server = await serve((c) => (dataRead(c) ? lie : undefined));
    const t0 = performance.now();
    const { out, error } = await mergeFrom(server.url, { ...FAST, retries: 2 });
    expect(error?.code).toBe("E_TIMEOUT");
    expect(error?.message).toMatch(re);
    expect(performance.now() - t0).toBeLessThan(5000);
    expectNoOutput(out);
  });
});
