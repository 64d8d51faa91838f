// Local model directories on Node: files are opened once and read by byte range.
import { open, readFile, realpath, stat } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join, resolve } from "node:path";
import { AmalgamError } from "../../src/errors.ts";
import type { ByteSource, ModelDirectory } from "../../src/io/storage.ts";
import { httpResolver, isHubRef, isUrlRef } from "../../src/io/http-model.ts";
import type { HttpOptions } from "../../src/io/http-model.ts";
import { DIRECT_READS_ENV, DIRECT_READ_MIN, looksCold, openDirectRead, parseDirectReads } from "./direct-reads.ts";
import type { DirectReads } from "./direct-reads.ts";
import { DIRECT_ALIGN, refusedDirect } from "./direct-writes.ts";

class FileSource implements ByteSource {
  /** Set when reads may go direct (see direct-reads.ts): callers then place them aligned. */
  readonly readAlignment: number | undefined;
  private direct: Promise<FileHandle | undefined> | undefined;
  /** Cleared when the platform or file system refuses a direct read: the rest go through the page cache. */
  private directOk: boolean;

  constructor(readonly fh: FileHandle, readonly size: number, private readonly path: string, private readonly fsPath: string, readonly version?: string, directReads = false) {
    this.readAlignment = directReads ? DIRECT_ALIGN : undefined;
    this.directOk = directReads;
  }

  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    if (offset < 0 || offset + dest.length > this.size) {
      throw new AmalgamError("E_IO", `${this.path}: read of ${dest.length} bytes at ${offset} is outside the ${this.size}-byte file`);
    }
    // direct: an aligned read into aligned memory (a WebAssembly memory's bytes start on a page);
    // a length that is not a multiple of the alignment (the file's end) ends through the page cache
    if (this.directOk && dest.length >= DIRECT_READ_MIN && offset % DIRECT_ALIGN === 0 && dest.byteOffset % DIRECT_ALIGN === 0) {
      const dfh = await (this.direct ??= openDirectRead(this.fsPath));
      const whole = dest.length - (dest.length % DIRECT_ALIGN);
      try {
        if (!dfh) throw Object.assign(new Error("no O_DIRECT"), { code: "EINVAL" });
        await this.readFrom(dfh, offset, dest.subarray(0, whole));
        if (whole < dest.length) await this.readFrom(this.fh, offset + whole, dest.subarray(whole));
        return;
      } catch (e) {
        if (!refusedDirect(e)) throw e;
        this.directOk = false;
      }
    }
    await this.readFrom(this.fh, offset, dest);
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => {});
    await (await this.direct?.catch(() => undefined))?.close().catch(() => {});
  }

  private async readFrom(fh: FileHandle, offset: number, dest: Uint8Array): Promise<void> {
    let done = 0;
    while (done < dest.length) {
      const { bytesRead } = await fh.read(dest, done, dest.length - done, offset + done);
      if (bytesRead === 0) throw new AmalgamError("E_IO", `${this.path}: file ended early (it changed while merging?)`);
      done += bytesRead;
    }
  }
}

function checkName(name: string, ref: string): void {
  if (!name || name.includes("/") || name.includes("\\") || name === ".." || name === ".") {
    throw new AmalgamError("E_IO", `${ref}: refusing to open "${name}", which is not a plain file name`);
  }
}

export class FsModelDirectory implements ModelDirectory {
  private readonly handles = new Map<string, Promise<FileSource>>();
  /** `localPath`: the directory's canonical path (symbolic links resolved), for overlap checks. */
  /** `directReads`: see direct-reads.ts (default "never" here; the resolvers default to "auto"). */
  constructor(readonly ref: string, private readonly dir: string, readonly localPath?: string, private readonly directReads: DirectReads = "never") {}

  async has(name: string): Promise<boolean> {
    checkName(name, this.ref);
    try {
      return (await stat(join(this.dir, name))).isFile();
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    for (const h of all) await (await h.catch(() => undefined))?.close();
  }

  open(name: string): Promise<ByteSource> {
    checkName(name, this.ref);
    let h = this.handles.get(name);
    if (!h) {
      const path = join(this.dir, name);
      h = (async () => {
        let fh: FileHandle;
        try {
          fh = await open(path, "r");
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          throw new AmalgamError(code === "ENOENT" ? "E_MODEL_NOT_FOUND" : "E_IO", `${this.ref}/${name}: cannot open (${code ?? (e as Error).message})`);
        }
        const st = await fh.stat();
        const direct = this.directReads === "always" || (this.directReads === "auto" && (await looksCold(fh, st.size).catch(() => undefined)) === true);
        return new FileSource(fh, st.size, `${this.ref}/${name}`, path, `${st.size}@${st.mtimeMs}`, direct);
      })();
      this.handles.set(name, h);
    }
    return h;
  }

  async readFile(name: string): Promise<Uint8Array> {
    checkName(name, this.ref);
    try {
      return await readFile(join(this.dir, name));
    } catch (e) {
      throw new AmalgamError("E_IO", `${this.ref}/${name}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
}

/** Resolves model references as local paths, relative to `cwd` (as MergeKit does). */
export function fsResolver(cwd: string = process.cwd(), directReads: DirectReads = "auto") {
  return async (ref: string): Promise<ModelDirectory> => {
    const dir = resolve(cwd, ref);
    try {
      if (!(await stat(dir)).isDirectory()) throw new Error("not a directory");
    } catch {
      throw new AmalgamError("E_MODEL_NOT_FOUND", `model "${ref}": no directory at ${dir} (local paths are resolved against ${cwd}; remote models are http(s) URLs or org/name hub references)`);
    }
    return new FsModelDirectory(ref, dir, await realpath(dir).catch(() => dir), directReads);
  };
}

/**
 * MergeKit's rule: a local directory if it exists, else a remote model — an http(s) URL of a model
 * folder, or an `org/name[@revision]` hub name (HF_ENDPOINT / HF_TOKEN from `env`).
 */
export function defaultResolver(cwd: string = process.cwd(), env: Record<string, string | undefined> = process.env, http: HttpOptions = {}) {
  const local = fsResolver(cwd, parseDirectReads(env[DIRECT_READS_ENV]));
  const remote = httpResolver({ endpoint: env["HF_ENDPOINT"], token: env["HF_TOKEN"], ...http });
  return async (ref: string): Promise<ModelDirectory> => {
    if (isUrlRef(ref)) return remote(ref);
    const isDir = await stat(resolve(cwd, ref)).then((s) => s.isDirectory(), () => false);
    if (isDir || !isHubRef(ref)) return local(ref);
    return remote(ref);
  };
}
