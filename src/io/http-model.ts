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
  /** Bearer token (HF_TOKEN); sent only to the host it was meant for, never after a redirect to another. */
  readonly token?: string;
  /** Requests in flight at once, over all files (default 8). */
  readonly maxConnections?: number;
  /** Attempts per request on network errors, timeouts, 5xx, 429 and answers that break the protocol (default 5). */
  readonly retries?: number;
  /** First backoff in ms, doubled per attempt (default 200). */
  readonly backoffMs?: number;
  /** A request with no response, or a body with no new bytes, for this long is abandoned (default 30 s). */
  readonly timeoutMs?: number;
  /**
   * Slowest acceptable body rate (bytes/s, default 16 KiB/s): a body taking longer than
   * `timeoutMs + bytes / minBytesPerSecond` is abandoned, so a slow drip cannot stall a merge.
   */
  readonly minBytesPerSecond?: number;
  /**
   * Hosts a redirect may lead to besides the requested one (suffixes: "hf.co" allows
   * "cdn-lfs.hf.co"). Default for hub references: the endpoint's host, huggingface.co and hf.co.
   */
  readonly redirectHosts?: readonly string[];
}

/** Whole small files (JSON, tokenizer) larger than this are refused. */
export const MAX_HTTP_SIDE_FILE = 256 * 1024 * 1024;
export const DEFAULT_ENDPOINT = "https://huggingface.co";
/** Redirects followed per request (the hub uses one, to its CDN). */
export const MAX_REDIRECTS = 5;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MIN_BYTES_PER_SECOND = 16 * 1024;
/** The hub's own hosts and CDNs, where hub downloads are redirected. */
const HUB_HOSTS = ["huggingface.co", "hf.co"];
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

/** A failure worth another attempt (network, timeout, 5xx, a broken answer); the last one is thrown. */
class Retryable extends Error {
  constructor(readonly error: AmalgamError) {
    super(error.message);
  }
}

/** ETags compare without the weak marker: servers mark the same entity weak in one answer, not the next. */
function sameEtag(a: string, b: string): boolean {
  return a.replace(/^W\//, "") === b.replace(/^W\//, "");
}

/** The validator a response carries: an ETag, else Last-Modified. */
function validatorOf(res: Response): string | null {
  const etag = res.headers.get("etag");
  if (etag) return `etag ${etag}`;
  const lm = res.headers.get("last-modified");
  return lm ? `last-modified ${lm}` : null;
}

function sameValidator(a: string, b: string): boolean {
  if (a.startsWith("etag ") && b.startsWith("etag ")) return sameEtag(a.slice(5), b.slice(5));
  if (a.startsWith("etag ") !== b.startsWith("etag ")) return true; // different kinds: nothing to compare
  return a === b;
}

/** One attempt's timers: no response or no bytes for `idleMs`, or a body slower than `minRate`, aborts it. */
class Deadline {
  readonly controller = new AbortController();
  reason: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly end: number;
  constructor(private readonly idleMs: number, bytes: number, private readonly minRate: number) {
    this.end = Date.now() + idleMs + (bytes * 1000) / minRate;
    this.touch();
  }
  /** Progress: the idle timer starts again (never past the overall deadline). */
  touch(): void {
    clearTimeout(this.timer);
    const left = this.end - Date.now();
    const byRate = left < this.idleMs;
    this.timer = setTimeout(() => {
      this.reason = byRate ? `the body came slower than ${this.minRate} bytes/s` : `no data for ${this.idleMs} ms`;
      this.controller.abort();
    }, Math.max(0, Math.min(this.idleMs, left)));
  }
  clear(): void {
    clearTimeout(this.timer);
  }
}

class Http {
  readonly fetch: typeof fetch;
  private readonly sem: Semaphore;
  readonly retries: number;
  readonly backoff: number;
  readonly timeoutMs: number;
  readonly minRate: number;
  readonly bytesReceived = { value: 0 };
  constructor(readonly options: HttpOptions) {
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.sem = new Semaphore(Math.max(1, options.maxConnections ?? 8));
    this.retries = Math.max(1, options.retries ?? 5);
    this.backoff = options.backoffMs ?? 200;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.minRate = options.minBytesPerSecond ?? DEFAULT_MIN_BYTES_PER_SECOND;
  }

  /** Whether a redirect from `from` to `to` may be followed. */
  private redirectAllowed(from: URL, to: URL, hosts: readonly string[]): boolean {
    if (from.protocol === "https:" && to.protocol !== "https:") return false;
    if (to.protocol !== "https:" && to.protocol !== "http:") return false;
    if (to.host === from.host) return true;
    return hostMatches(to.hostname, hosts);
  }

  /**
   * Fetches with redirects followed here, each checked: at most MAX_REDIRECTS, never to another
   * host unless allowed, never from https to http, and the token only to the requested host.
   */
  private async fetchChecked(url: string, init: RequestInit, what: string, deadline: Deadline, hosts: readonly string[]): Promise<Response> {
    let current = new URL(url);
    const origin = current.host;
    for (let hop = 0; ; hop++) {
      const headers = new Headers(init.headers);
      if (this.options.token && current.host === origin) headers.set("Authorization", `Bearer ${this.options.token}`);
      let res: Response;
      try {
        res = await this.fetch(current.href, { ...init, headers, redirect: "manual", signal: deadline.controller.signal });
      } catch (e) {
        throw new Retryable(this.failure(what, current.href, e, deadline));
      }
      if (res.type === "opaqueredirect") {
        // Browsers hide manual redirects: follow them, then check where the answer came from.
        try {
          res = await this.fetch(current.href, { ...init, headers, redirect: "follow", signal: deadline.controller.signal });
        } catch (e) {
          throw new Retryable(this.failure(what, current.href, e, deadline));
        }
        if (res.url && !this.redirectAllowed(current, new URL(res.url), hosts)) {
          await res.body?.cancel().catch(() => {});
          throw new AmalgamError("E_REMOTE", `${what}: ${url} was redirected to ${new URL(res.url).host}, another host; refused (allowed: ${[origin, ...hosts].join(", ")})`);
        }
        return res;
      }
      if (![301, 302, 303, 307, 308].includes(res.status)) return res;
      const loc = res.headers.get("location");
      await res.body?.cancel().catch(() => {});
      if (!loc) throw new AmalgamError("E_REMOTE", `${what}: HTTP ${res.status} redirect without a Location from ${current.href}`);
      let next: URL;
      try {
        next = new URL(loc, current);
      } catch {
        throw new AmalgamError("E_REMOTE", `${what}: redirect to an invalid URL ${JSON.stringify(loc)}`);
      }
      if (hop + 1 > MAX_REDIRECTS) throw new AmalgamError("E_REMOTE", `${what}: more than ${MAX_REDIRECTS} redirects from ${url}`);
      if (!this.redirectAllowed(current, next, hosts)) {
        throw new AmalgamError("E_REMOTE", `${what}: redirect from ${current.host} to ${next.protocol}//${next.host} refused (${current.protocol === "https:" && next.protocol !== "https:" ? "https to http" : "another host"}; allowed: ${[origin, ...hosts].join(", ")})`);
      }
      deadline.touch();
      current = next;
    }
  }

  /** A network error or an abort by the deadline, as the error to report. */
  failure(what: string, url: string, e: unknown, deadline: Deadline): AmalgamError {
    if (deadline.reason) return new AmalgamError("E_TIMEOUT", `${what}: ${url}: ${deadline.reason}`);
    return new AmalgamError("E_IO", `${what}: ${url}: ${(e as Error)?.message ?? String(e)}`);
  }

  /**
   * One logical request with bounded retries: `handle` reads the response (under the same
   * connection slot and timers) and throws Retryable for answers worth another attempt.
   */
  async run<T>(url: string, init: RequestInit, what: string, bytes: number, hosts: readonly string[], handle: (res: Response, deadline: Deadline) => Promise<T>): Promise<T> {
    let last: AmalgamError | undefined;
    for (let attempt = 0; attempt < this.retries; attempt++) {
      if (attempt) await sleep(this.backoff * 2 ** (attempt - 1));
      const deadline = new Deadline(this.timeoutMs, bytes, this.minRate);
      try {
        return await this.sem.use(async () => {
          const res = await this.fetchChecked(url, init, what, deadline, hosts);
          try {
            if (res.status >= 500 || res.status === 429 || res.status === 408) throw new Retryable(new AmalgamError("E_IO", `${what}: ${url}: HTTP ${res.status}`));
            deadline.touch();
            return await handle(res, deadline);
          } finally {
            await res.body?.cancel().catch(() => {});
          }
        });
      } catch (e) {
        if (!(e instanceof Retryable)) throw e;
        last = e.error;
      } finally {
        deadline.clear();
      }
    }
    const err = last!;
    throw new AmalgamError(err.code, `${err.message} (gave up after ${this.retries} attempts)`);
  }
}

class HttpSource implements ByteSource {
  readonly version: string | undefined;
  constructor(private readonly http: Http, private readonly url: string, readonly size: number, private readonly validator: string | null, private readonly name: string, private readonly hosts: readonly string[]) {
    this.version = validator ?? undefined;
  }

  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    if (dest.length === 0) return;
    if (offset < 0 || offset + dest.length > this.size) {
      throw new AmalgamError("E_IO", `${this.name}: range [${offset}, ${offset + dest.length}) is outside the ${this.size}-byte file`);
    }
    const end = offset + dest.length - 1;
    await this.http.run(this.url, { headers: { Range: `bytes=${offset}-${end}` } }, this.name, dest.length, this.hosts, async (res, deadline) => {
      if (res.status === 404 || res.status === 410) {
        throw new AmalgamError("E_IO", `${this.name}: HTTP ${res.status} for bytes ${offset}-${end}: the file is gone (removed during the merge?)`);
      }
      if (res.status === 416) {
        throw new AmalgamError("E_REMOTE_CHANGED", `${this.name}: HTTP 416 for bytes ${offset}-${end} of a ${this.size}-byte file: it is shorter now, it changed during the merge`);
      }
      if (res.status !== 206) throw new Retryable(new AmalgamError("E_REMOTE", `${this.name}: expected 206 Partial Content for bytes ${offset}-${end}, got HTTP ${res.status}`));
      const cr = res.headers.get("content-range");
      const m = cr ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(cr.trim()) : null;
      if (m && m[3] !== "*" && Number(m[3]) !== this.size) {
        throw new AmalgamError("E_REMOTE_CHANGED", `${this.name}: the file changed during the merge (its size was ${this.size}, the server now says ${m[3]})`);
      }
      if (!m || Number(m[1]) !== offset || Number(m[2]) !== end) {
        throw new Retryable(new AmalgamError("E_REMOTE", `${this.name}: server answered bytes ${offset}-${end} with Content-Range "${cr ?? ""}"`));
      }
      const v = validatorOf(res);
      if (this.validator && v && !sameValidator(this.validator, v)) {
        throw new AmalgamError("E_REMOTE_CHANGED", `${this.name}: the file changed during the merge (${this.validator} became ${v})`);
      }
      await this.readBody(res, dest, deadline);
    });
  }

  private async readBody(res: Response, dest: Uint8Array, deadline: Deadline): Promise<void> {
    if (!res.body) throw new Retryable(new AmalgamError("E_REMOTE", `${this.name}: empty response body`));
    const reader = res.body.getReader();
    let got = 0;
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (deadline.reason) throw new Retryable(new AmalgamError("E_TIMEOUT", `${this.name}: body stopped after ${got} of ${dest.length} bytes: ${deadline.reason}`));
          throw new Retryable(new AmalgamError("E_IO", `${this.name}: body ended after ${got} of ${dest.length} bytes (${(e as Error)?.message ?? e})`));
        }
        if (chunk.done) break;
        const v = chunk.value;
        if (got + v.length > dest.length) throw new Retryable(new AmalgamError("E_REMOTE", `${this.name}: server sent more than the ${dest.length} bytes asked for`));
        dest.set(v, got);
        got += v.length;
        deadline.touch();
      }
    } catch (e) {
      await reader.cancel().catch(() => {});
      throw e;
    }
    this.http.bytesReceived.value += got;
    if (got !== dest.length) throw new Retryable(new AmalgamError("E_IO", `${this.name}: body ended after ${got} of ${dest.length} bytes`));
  }
}

function checkName(name: string, ref: string): void {
  if (!name || name.includes("/") || name.includes("\\") || name === "." || name === ".." || name.includes("?") || name.includes("#")) {
    throw new AmalgamError("E_IO", `${ref}: refusing to fetch "${name}", which is not a plain file name`);
  }
}

export class HttpModelDirectory implements ModelDirectory {
  private readonly heads = new Map<string, Promise<{ ok: boolean; size: number; validator: string | null }>>();
  /** `redirectHosts`: where its files may be redirected besides their own host. */
  constructor(readonly ref: string, private readonly base: string, private readonly http: Http, private readonly redirectHosts: readonly string[] = []) {}

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
      const what = `${this.ref}/${name}`;
      h = this.http.run(this.url(name), { method: "HEAD" }, what, 0, this.redirectHosts, async (res) => {
        if (res.status === 404) return { ok: false, size: 0, validator: null };
        if (res.status === 401 || res.status === 403) {
          throw new AmalgamError("E_MODEL_NOT_FOUND", `${what}: HTTP ${res.status} (set HF_TOKEN for gated or private models)`);
        }
        if (!res.ok) throw new AmalgamError("E_IO", `${what}: HTTP ${res.status}`);
        const len = res.headers.get("content-length");
        const size = len === null ? NaN : Number(len);
        if (!Number.isSafeInteger(size) || size < 0) throw new AmalgamError("E_REMOTE", `${what}: no usable Content-Length (${len ?? "missing"})`);
        return { ok: true, size, validator: validatorOf(res) };
      });
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
    return new HttpSource(this.http, this.url(name), h.size, h.validator, `${this.ref}/${name}`, this.redirectHosts);
  }

  async readFile(name: string): Promise<Uint8Array> {
    const h = await this.head(name);
    if (!h.ok) throw new AmalgamError("E_MODEL_NOT_FOUND", `${this.ref}/${name}: not found`);
    if (h.size > MAX_HTTP_SIDE_FILE) throw new AmalgamError("E_IO", `${this.ref}/${name}: ${h.size} bytes, over the ${MAX_HTTP_SIDE_FILE}-byte limit`);
    const out = new Uint8Array(h.size);
    await new HttpSource(this.http, this.url(name), h.size, h.validator, `${this.ref}/${name}`, this.redirectHosts).readInto(0, out);
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
  const hubHosts = [...HUB_HOSTS, hostOf(endpoint)].filter((h): h is string => h !== undefined);
  // Hub downloads are redirected to the hub's CDN hosts; other servers stay on their own host.
  const hostsFor = (url: string) => options.redirectHosts ?? (hostMatches(hostOf(url) ?? "", hubHosts) ? hubHosts : []);
  return async (ref: string) => {
    if (isUrlRef(ref)) return new HttpModelDirectory(ref, ref.endsWith("/") ? ref : `${ref}/`, http, hostsFor(ref));
    const [name, revision] = ref.split("@") as [string, string | undefined];
    if (!HUB_REF.test(name)) throw new AmalgamError("E_MODEL_NOT_FOUND", `model "${ref}" is neither a URL nor an org/name hub reference`);
    return new HttpModelDirectory(ref, `${endpoint}/${name}/resolve/${encodeURIComponent(revision ?? "main")}/`, http, options.redirectHosts ?? hubHosts);
  };
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Whether `host` is one of `hosts` or a subdomain of one. */
function hostMatches(host: string, hosts: readonly string[]): boolean {
  const h = host.toLowerCase();
  return hosts.some((x) => h === x || h.endsWith(`.${x}`));
}
