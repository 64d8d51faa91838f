// Model directories over HTTP(S): an `http(s)://` URL of a folder, or a Hugging Face–style
// `org/name[@revision]` on an endpoint (HF_ENDPOINT, default https://huggingface.co). Safetensors are
// read with Range requests — the header, then only the byte ranges the plan needs — with retries,
// a bounded number of connections, and a check that the file did not change mid-merge.
import { AmalgamError } from "../errors.ts";
import type { ByteSource, ModelDirectory, ResolveModel } from "./storage.ts";

export interface HttpOptions {
  /** Injected fetch (tests, proxies); default globalThis.fetch. */
  readonly fetch?: typeof fetch;
  /** Hub endpoint for `org/name` references. */
  readonly endpoint?: string;
  /** Bearer token (HF_TOKEN). */
  readonly token?: string;
  /** Requests in flight at once, over all files (default 8). */
  readonly maxConnections?: number;
  /** Attempts per request on network errors, 5xx and 429 (default 5). */
  readonly retries?: number;
  /** First backoff in ms, doubled per attempt (default 200). */
  readonly backoffMs?: number;
}

/** Whole small files (JSON, tokenizer) larger than this are refused. */
export const MAX_HTTP_SIDE_FILE = 256 * 1024 * 1024;
export const DEFAULT_ENDPOINT = "https://huggingface.co";
const HUB_REF = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Http {
  readonly fetch: typeof fetch;
  private readonly sem: Semaphore;
  readonly retries: number;
  readonly backoff: number;
  readonly bytesReceived = { value: 0 };
  constructor(readonly options: HttpOptions) {
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.sem = new Semaphore(Math.max(1, options.maxConnections ?? 8));
    this.retries = Math.max(1, options.retries ?? 5);
    this.backoff = options.backoffMs ?? 200;
  }

  /** A request with retries; `accept` decides whether a response is final (else retried or thrown). */
  async request(url: string, init: RequestInit, what: string): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.options.token) headers.set("Authorization", `Bearer ${this.options.token}`);
    let last = "";
    for (let attempt = 0; attempt < this.retries; attempt++) {
      if (attempt) await sleep(this.backoff * 2 ** (attempt - 1));
      try {
        const res = await this.sem.use(() => this.fetch(url, { ...init, headers }));
        if (res.status >= 500 || res.status === 429 || res.status === 408) {
          last = `HTTP ${res.status}`;
          await res.body?.cancel();
          continue;
        }
        return res;
      } catch (e) {
        last = (e as Error).message;
      }
    }
    throw new AmalgamError("E_IO", `${what}: ${url} failed after ${this.retries} attempts (${last})`);
  }
}

class HttpSource implements ByteSource {
  constructor(private readonly http: Http, private readonly url: string, readonly size: number, private readonly etag: string | null, private readonly name: string) {}

  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    if (dest.length === 0) return;
    if (offset < 0 || offset + dest.length > this.size) {
      throw new AmalgamError("E_IO", `${this.name}: range [${offset}, ${offset + dest.length}) is outside the ${this.size}-byte file`);
    }
    const end = offset + dest.length - 1;
    for (let attempt = 0; ; attempt++) {
      const res = await this.http.request(this.url, { headers: { Range: `bytes=${offset}-${end}` } }, this.name);
      try {
        if (res.status !== 206) throw new AmalgamError("E_IO", `${this.name}: expected 206 Partial Content for bytes ${offset}-${end}, got HTTP ${res.status}`);
        const cr = res.headers.get("content-range");
        const m = cr ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(cr.trim()) : null;
        if (!m || Number(m[1]) !== offset || Number(m[2]) !== end || (m[3] !== "*" && Number(m[3]) !== this.size)) {
          throw new AmalgamError("E_IO", `${this.name}: server answered bytes ${offset}-${end} with Content-Range "${cr ?? ""}"`);
        }
        const etag = res.headers.get("etag");
        if (this.etag && etag && etag !== this.etag) throw new AmalgamError("E_IO", `${this.name}: the file changed during the merge (ETag ${this.etag} became ${etag})`);
        await this.readBody(res, dest);
        return;
      } catch (e) {
        await res.body?.cancel().catch(() => {});
        const transient = e instanceof AmalgamError && /ended after|TypeError|terminated/.test(e.message);
        if (!transient || attempt + 1 >= this.http.retries) throw e;
        await sleep(this.http.backoff * 2 ** attempt);
      }
    }
  }

  private async readBody(res: Response, dest: Uint8Array): Promise<void> {
    if (!res.body) throw new AmalgamError("E_IO", `${this.name}: empty response body`);
    const reader = res.body.getReader();
    let got = 0;
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new AmalgamError("E_IO", `${this.name}: body ended after ${got} of ${dest.length} bytes (${(e as Error).name})`);
      }
      if (chunk.done) break;
      const v = chunk.value;
      if (got + v.length > dest.length) throw new AmalgamError("E_IO", `${this.name}: server sent more than the ${dest.length} bytes asked for`);
      dest.set(v, got);
      got += v.length;
    }
    this.http.bytesReceived.value += got;
    if (got !== dest.length) throw new AmalgamError("E_IO", `${this.name}: body ended after ${got} of ${dest.length} bytes`);
  }
}

function checkName(name: string, ref: string): void {
  if (!name || name.includes("/") || name.includes("\\") || name === "." || name === ".." || name.includes("?") || name.includes("#")) {
    throw new AmalgamError("E_IO", `${ref}: refusing to fetch "${name}", which is not a plain file name`);
  }
}

export class HttpModelDirectory implements ModelDirectory {
  private readonly heads = new Map<string, Promise<{ ok: boolean; size: number; etag: string | null }>>();
  constructor(readonly ref: string, private readonly base: string, private readonly http: Http) {}

  /** Bytes received over all requests of this directory's resolver (tests, progress). */
  get bytesReceived(): number {
    return this.http.bytesReceived.value;
  }

  private url(name: string): string {
    checkName(name, this.ref);
    return this.base + encodeURIComponent(name);
  }

  private head(name: string) {
    let h = this.heads.get(name);
    if (!h) {
      h = (async () => {
        const res = await this.http.request(this.url(name), { method: "HEAD" }, `${this.ref}/${name}`);
        await res.body?.cancel();
        if (res.status === 404) return { ok: false, size: 0, etag: null };
        if (res.status === 401 || res.status === 403) {
          throw new AmalgamError("E_MODEL_NOT_FOUND", `${this.ref}/${name}: HTTP ${res.status} (set HF_TOKEN for gated or private models)`);
        }
        if (!res.ok) throw new AmalgamError("E_IO", `${this.ref}/${name}: HTTP ${res.status}`);
        const len = res.headers.get("content-length");
        const size = len === null ? NaN : Number(len);
        if (!Number.isSafeInteger(size) || size < 0) throw new AmalgamError("E_IO", `${this.ref}/${name}: no usable Content-Length (${len ?? "missing"})`);
        return { ok: true, size, etag: res.headers.get("etag") };
      })();
      this.heads.set(name, h);
    }
    return h;
  }

  async has(name: string): Promise<boolean> {
    return (await this.head(name)).ok;
  }

  async open(name: string): Promise<ByteSource> {
    const h = await this.head(name);
    if (!h.ok) throw new AmalgamError("E_MODEL_NOT_FOUND", `${this.ref}/${name}: not found`);
    return new HttpSource(this.http, this.url(name), h.size, h.etag, `${this.ref}/${name}`);
  }

  async readFile(name: string): Promise<Uint8Array> {
    const h = await this.head(name);
    if (!h.ok) throw new AmalgamError("E_MODEL_NOT_FOUND", `${this.ref}/${name}: not found`);
    if (h.size > MAX_HTTP_SIDE_FILE) throw new AmalgamError("E_IO", `${this.ref}/${name}: ${h.size} bytes, over the ${MAX_HTTP_SIDE_FILE}-byte limit`);
    const out = new Uint8Array(h.size);
    await new HttpSource(this.http, this.url(name), h.size, h.etag, `${this.ref}/${name}`).readInto(0, out);
    return out;
  }
}

/** Whether a model reference is remote (a URL or a hub name). */
export function isUrlRef(ref: string): boolean {
  return /^https?:\/\//i.test(ref);
}
export function isHubRef(ref: string): boolean {
  return HUB_REF.test(ref.split("@")[0]!) && !ref.startsWith(".");
}

/** Resolves `http(s)://…/` folders and `org/name[@revision]` hub names. */
export function httpResolver(options: HttpOptions = {}): ResolveModel {
  const http = new Http(options);
  const endpoint = (options.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
  return async (ref: string) => {
    if (isUrlRef(ref)) return new HttpModelDirectory(ref, ref.endsWith("/") ? ref : `${ref}/`, http);
    const [name, revision] = ref.split("@") as [string, string | undefined];
    if (!HUB_REF.test(name)) throw new AmalgamError("E_MODEL_NOT_FOUND", `model "${ref}" is neither a URL nor an org/name hub reference`);
    return new HttpModelDirectory(ref, `${endpoint}/${name}/resolve/${encodeURIComponent(revision ?? "main")}/`, http);
  };
}
