// Local model directories on Node: files are opened once and read by byte range.
import { open, readFile, realpath, stat } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join, resolve } from "node:path";
import { AmalgamError } from "../../src/errors.ts";
import type { ByteSource, ModelDirectory } from "../../src/io/storage.ts";
import { httpResolver, isHubRef, isUrlRef } from "../../src/io/http-model.ts";
import type { HttpOptions } from "../../src/io/http-model.ts";

class FileSource implements ByteSource {
  constructor(readonly fh: FileHandle, readonly size: number, private readonly path: string, readonly version?: string) {}
  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    if (offset < 0 || offset + dest.length > this.size) {
      throw new AmalgamError("E_IO", `${this.path}: read of ${dest.length} bytes at ${offset} is outside the ${this.size}-byte file`);
    }
    let done = 0;
    while (done < dest.length) {
      const { bytesRead } = await this.fh.read(dest, done, dest.length - done, offset + done);
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
  constructor(readonly ref: string, private readonly dir: string, readonly localPath?: string) {}

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
    for (const h of all) await (await h.catch(() => undefined))?.fh.close().catch(() => {});
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
        return new FileSource(fh, st.size, `${this.ref}/${name}`, `${st.size}@${st.mtimeMs}`);
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
export function fsResolver(cwd: string = process.cwd()) {
  return async (ref: string): Promise<ModelDirectory> => {
    const dir = resolve(cwd, ref);
    try {
      if (!(await stat(dir)).isDirectory()) throw new Error("not a directory");
    } catch {
      throw new AmalgamError("E_MODEL_NOT_FOUND", `model "${ref}": no directory at ${dir} (local paths are resolved against ${cwd}; remote models are http(s) URLs or org/name hub references)`);
    }
    return new FsModelDirectory(ref, dir, await realpath(dir).catch(() => dir));
  };
}

/**
 * MergeKit's rule: a local directory if it exists, else a remote model — an http(s) URL of a model
 * folder, or an `org/name[@revision]` hub name (HF_ENDPOINT / HF_TOKEN from `env`).
 */
export function defaultResolver(cwd: string = process.cwd(), env: Record<string, string | undefined> = process.env, http: HttpOptions = {}) {
  const local = fsResolver(cwd);
  const remote = httpResolver({ endpoint: env["HF_ENDPOINT"], token: env["HF_TOKEN"], ...http });
  return async (ref: string): Promise<ModelDirectory> => {
    if (isUrlRef(ref)) return remote(ref);
    const isDir = await stat(resolve(cwd, ref)).then((s) => s.isDirectory(), () => false);
    if (isDir || !isHubRef(ref)) return local(ref);
    return remote(ref);
  };
}
