// A static file server on 127.0.0.1 with HTTP Range support that counts the body bytes it sends.
import { createServer } from "node:http";
import type { Server } from "node:http";
import { open, stat } from "node:fs/promises";
import { join, normalize } from "node:path";

export interface RangeServer {
  readonly url: string;
  readonly stats: { bytes: number; requests: number; ranges: string[]; revisions: string[] };
  close(): Promise<void>;
}

export async function startRangeServer(root: string): Promise<RangeServer> {
  const stats = { bytes: 0, requests: 0, ranges: [] as string[], revisions: [] as string[] };
  const server: Server = createServer(async (req, res) => {
    stats.requests++;
    try {
      let path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
      // a hub-style layout: /hub/{org}/{name}/resolve/{revision}/{file} -> {org}/{name}/{file}
      const hub = /^\/hub\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/([^/]+)$/.exec(path);
      if (hub) {
        stats.revisions.push(hub[3]!);
        path = `/${hub[1]}/${hub[2]}/${hub[4]}`;
      }
      if (path.includes("..")) { res.writeHead(400).end(); return; }
      const file = join(root, path);
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) { res.writeHead(404).end(); return; }
      const etag = `"${st.size}-${st.mtimeMs}"`;
      const range = req.headers.range;
      let start = 0;
      let end = st.size - 1;
      let status = 200;
      const headers: Record<string, string | number> = { "accept-ranges": "bytes", etag };
      if (range) {
        const m = /^bytes=(\d+)-(\d+)$/.exec(range);
        if (!m || Number(m[2]) >= st.size || Number(m[1]) > Number(m[2])) { res.writeHead(416, { "content-range": `bytes */${st.size}` }).end(); return; }
        start = Number(m[1]);
        end = Number(m[2]);
        status = 206;
        headers["content-range"] = `bytes ${start}-${end}/${st.size}`;
        stats.ranges.push(`${path}:${start}-${end}`);
      }
      headers["content-length"] = end - start + 1;
      res.writeHead(status, headers);
      if (req.method === "HEAD") { res.end(); return; }
      const fh = await open(file, "r");
      const buf = Buffer.alloc(end - start + 1);
      await fh.read(buf, 0, buf.length, start);
      await fh.close();
      stats.bytes += buf.length;
      res.end(buf);
    } catch {
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
