// A static file server on 127.0.0.1 that lies when told to: wrong Content-Range, shifted or short
// or long bodies, Range ignored, files that change between requests, redirects (to another host,
// in loops), slow drips, stalls and silence. `lie` picks a behaviour per request.
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { readFileSync, statSync } from "node:fs";
import { join, normalize } from "node:path";

export type Lie =
  | { readonly kind: "honest" }
  /** Says it sends the asked range but sends the one shifted by `by` bytes. */
  | { readonly kind: "shifted-body"; readonly by: number }
  /** Sends the right bytes with a Content-Range for another range. */
  | { readonly kind: "wrong-content-range" }
  /** Promises the whole range, sends `keep` bytes, then drops the connection. */
  | { readonly kind: "short-body"; readonly keep: number }
  /** Sends the range and a few more bytes (Content-Length agrees with what is sent). */
  | { readonly kind: "long-body" }
  /** Answers 200 with the whole file. */
  | { readonly kind: "ignore-range" }
  /** Serves another version of the file: every byte flipped, `grow` bytes longer, new validators. */
  | { readonly kind: "changed"; readonly grow?: number }
  /** 302 to `location` (absolute or relative). */
  | { readonly kind: "redirect"; readonly location: string }
  /** `bytes` bytes every `everyMs` ms. */
  | { readonly kind: "drip"; readonly bytes: number; readonly everyMs: number }
  /** Headers, then nothing. */
  | { readonly kind: "stall" }
  /** Nothing at all. */
  | { readonly kind: "silent" }
  /** HTTP `status`, empty body. */
  | { readonly kind: "status"; readonly status: number };

export interface LieContext {
  /** The request's path and query. */
  readonly url: string;
  readonly path: string;
  readonly method: string;
  readonly range: string | undefined;
  /** Range requests to this path before this one. */
  readonly n: number;
  readonly headers: IncomingMessage["headers"];
}

export interface LyingServer {
  readonly url: string;
  readonly log: { path: string; method: string; range: string | undefined; lie: Lie["kind"]; authorization: string | undefined }[];
  close(): Promise<void>;
}

/** Which validators the server sends (for every version of a file). */
export type Validators = "both" | "etag" | "last-modified" | "none";

/** Serves `root`; `lie` decides how to answer each request (honestly when it returns undefined). */
export async function startLyingServer(root: string, lie: (c: LieContext) => Lie | undefined = () => undefined, validators: Validators = "both"): Promise<LyingServer> {
  const counts = new Map<string, number>();
  const log: LyingServer["log"] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setInterval>>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    const range = req.headers.range;
    const n = counts.get(path) ?? 0;
    if (range) counts.set(path, n + 1);
    const l = lie({ url: req.url ?? "/", path, method: req.method ?? "GET", range, n, headers: req.headers }) ?? { kind: "honest" };
    log.push({ path, method: req.method ?? "GET", range, lie: l.kind, authorization: req.headers.authorization });
    if (l.kind === "silent") return;
    if (l.kind === "status") { res.writeHead(l.status).end(); return; }
    if (l.kind === "redirect") { res.writeHead(302, { location: l.location }).end(); return; }
    if (path.includes("..")) { res.writeHead(400).end(); return; }
    const file = join(root, path);
    let st;
    try { st = statSync(file); } catch { res.writeHead(404).end(); return; }
    if (!st.isFile()) { res.writeHead(404).end(); return; }
    let data: Uint8Array = readFileSync(file);
    const headers: Record<string, string | number> = { "accept-ranges": "bytes" };
    let version = 1;
    if (l.kind === "changed") {
      const v = Buffer.from(data);
      for (let i = 0; i < v.length; i++) v[i] = v[i]! ^ 0x55;
      data = l.grow ? Buffer.concat([v, Buffer.alloc(l.grow)]) : v;
      version = 2;
    }
    if (validators === "both" || validators === "etag") headers["etag"] = `"v${version}-${st.size}"`;
    if (validators === "both" || validators === "last-modified") headers["last-modified"] = `Mon, 0${version} Jan 2024 00:00:00 GMT`;
    const size = data.length;
    if (req.method === "HEAD") { res.writeHead(200, { ...headers, "content-length": size }).end(); return; }
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range && l.kind !== "ignore-range") {
      const m = /^bytes=(\d+)-(\d+)$/.exec(range);
      if (!m || Number(m[2]) >= size || Number(m[1]) > Number(m[2])) { res.writeHead(416, { "content-range": `bytes */${size}` }).end(); return; }
      start = Number(m[1]);
      end = Number(m[2]);
      status = 206;
      headers["content-range"] = `bytes ${start}-${end}/${size}`;
    }
    let body = Buffer.from(data.subarray(start, end + 1));
    switch (l.kind) {
      case "shifted-body":
        body = Buffer.from(data.subarray(start + l.by, end + 1 + l.by));
        headers["content-range"] = `bytes ${start + l.by}-${end + l.by}/${size}`;
        break;
      case "wrong-content-range":
        headers["content-range"] = `bytes ${start + 1}-${end + 1}/${size}`;
        break;
      case "long-body":
        body = Buffer.concat([body, Buffer.alloc(16)]);
        break;
      default:
        break;
    }
    if (l.kind === "short-body") {
      res.writeHead(status, { ...headers, "content-length": body.length });
      res.write(body.subarray(0, l.keep), () => res.socket?.destroy());
      return;
    }
    if (l.kind === "stall") {
      res.writeHead(status, { ...headers, "content-length": body.length });
      res.flushHeaders();
      return;
    }
    if (l.kind === "drip") {
      res.writeHead(status, { ...headers, "content-length": body.length });
      let at = 0;
      const t = setInterval(() => {
        if (at >= body.length || res.destroyed) { clearInterval(t); timers.delete(t); if (!res.destroyed) res.end(); return; }
        res.write(body.subarray(at, at + l.bytes));
        at += l.bytes;
      }, l.everyMs);
      timers.add(t);
      res.on("close", () => { clearInterval(t); timers.delete(t); });
      return;
    }
    res.writeHead(status, { ...headers, "content-length": body.length });
    res.end(body);
  });
  server.on("connection", (s: Socket) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: () => new Promise((r) => {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
