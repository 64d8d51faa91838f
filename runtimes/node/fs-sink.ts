// An atomic, resumable output directory on Node. Files are written under temporary names
// (`NAME.partial`) in a hidden staging folder inside the output directory, flushed and renamed
// there when finished, and moved into place only on commit: an old config.json and index go
// first, the new config.json comes last, so the directory never looks complete before it is.
// A progress record in the staging folder lists finished shards, so a killed run can resume.
// Nothing is written through symbolic links, and only plain file names are accepted.
import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, readFile, realpath, rename, rm, rmdir, stat, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { AmalgamError } from "../../src/errors.ts";
import type { ByteSource, FileWriter, OutputSink, OutputStore } from "../../src/io/storage.ts";
import { PROGRESS_FILE } from "../../src/output/manifest.ts";
import { STAGING_DIR } from "../../src/output/output-dir.ts";
import { DIRECT_ALIGN, alignedBuffers, openDirect, refusedDirect, writeFully } from "./direct-writes.ts";

/** The file system operations a sink performs, for `inject`. */
export type FsSinkOp = "mkdir" | "open" | "write" | "write-direct" | "sync" | "rename" | "remove";

export interface FsSinkOptions {
  /** Staging folder name inside the output directory (one per kind of run, see stagingName). */
  readonly staging?: string;
  /**
   * Test hook: called before each file system operation; an error it throws stands for the
   * operation's failure (e.g. `Object.assign(new Error(), { code: "ENOSPC" })` for a full disk).
   */
  readonly inject?: (op: FsSinkOp, path: string) => void;
  /**
   * Write whole blocks of output files with direct I/O where the platform and file system take it
   * (Linux O_DIRECT; see direct-writes.ts): far less CPU than copying them into the page cache, which
   * then does not hold the output afterwards. Default true; false writes everything through the
   * page cache.
   */
  readonly directWrites?: boolean;
}

/** Marks the staging folder as in use by one process: the same merge run twice at once is refused. */
export const LOCK_FILE = "amalgam-lock.json";

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

/** A file system error as a typed error: disk full and permission problems get their own codes. */
export function fsError(what: string, e: unknown): AmalgamError {
  if (e instanceof AmalgamError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new AmalgamError("E_NO_SPACE", `${what}: no space left on the device (${code}); free some space and run the same command again`, { cause: e });
  }
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return new AmalgamError("E_PERMISSION", `${what}: permission denied (${code})${code === "EROFS" ? ", the file system is read-only" : ""}`, { cause: e });
  }
  return new AmalgamError("E_IO", `${what}: ${code ?? (e as Error)?.message ?? String(e)}`, { cause: e });
}

function checkName(name: string): void {
  if (!name || name === "." || name === ".." || /[/\\\u0000]/.test(name) || name.startsWith(".") || name.endsWith(".partial") || name === PROGRESS_FILE || name === LOCK_FILE) {
    throw new AmalgamError("E_OUTPUT_UNSAFE", `refusing to write output file ${JSON.stringify(name)}: not a plain file name`);
  }
}

/** The canonical path of `p`, resolving symbolic links in the part that exists. */
async function canonicalPath(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    const parent = dirname(p);
    return parent === p ? p : join(await canonicalPath(parent), basename(p));
  }
}

/** fsync of a directory, so renames in it survive a power loss (not possible on every platform). */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r").catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => {});
  await fh.close().catch(() => {});
}

const exists = (p: string) => lstat(p).then(() => true, () => false);

class HandleSource implements ByteSource {
  constructor(private readonly fh: FileHandle, readonly size: number, private readonly path: string) {}
  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    let done = 0;
    while (done < dest.length) {
      const { bytesRead } = await this.fh.read(dest, done, dest.length - done, offset + done);
      if (bytesRead === 0) throw new AmalgamError("E_IO", `${this.path}: file ended early`);
      done += bytesRead;
    }
  }
}

export class FsOutputSink implements OutputSink {
  readonly store: OutputStore;
  private ready: Promise<void> | undefined;
  private createdOut = false;
  private createdStaging = false;
  /** Files finished in the staging folder (this run's, and kept ones of an earlier run). */
  private readonly done = new Set<string>();
  /** Files this run finished (removed on abort unless the progress record lists them). */
  private readonly written = new Set<string>();
  /** Files the progress record lists: kept on abort, for a resume. */
  private recorded = new Set<string>();
  private readonly partials = new Map<string, { fh: FileHandle; direct: FileHandle | undefined }>();
  /** Cleared by the first direct write the file system refuses: the rest of the run writes through the page cache. */
  private direct: boolean;
  private directWritten = 0;
  private readonly sources: FileHandle[] = [];
  private locked = false;

  private constructor(
    readonly outDir: string,
    readonly localPath: string,
    private readonly staging: string,
    private readonly stagingName: string,
    private readonly inject: FsSinkOptions["inject"],
    directWrites: boolean,
  ) {
    this.direct = directWrites;
    this.store = {
      stagingPath: staging,
      existing: () => this.existing(),
      readProgress: () => this.readProgress(),
      writeProgress: (bytes, files) => this.writeProgress(bytes, files),
      openFinished: (name) => this.openFinished(name),
      keep: (name) => { this.done.add(name); this.recorded.add(name); },
      discard: () => this.discard(),
    };
  }

  /** A sink over `outDir`; nothing is created until the first file is written. */
  static async create(outDir: string, options: FsSinkOptions = {}): Promise<FsOutputSink> {
    const out = resolve(outDir);
    const st = await stat(out).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return undefined;
      throw fsError(`cannot access output directory ${outDir}`, e);
    });
    if (st && !st.isDirectory()) throw new AmalgamError("E_OUTPUT", `output ${outDir} exists and is not a directory`);
    const name = options.staging ?? STAGING_DIR;
    if (!name.startsWith(STAGING_DIR) || /[/\\]/.test(name)) throw new AmalgamError("E_OUTPUT", `staging folder name ${JSON.stringify(name)} must start with ${STAGING_DIR}`);
    return new FsOutputSink(out, await canonicalPath(out), join(out, name), name, options.inject, options.directWrites ?? true);
  }

  private hook(op: FsSinkOp, path: string): void {
    this.inject?.(op, path);
  }

  private ensureStaging(): Promise<void> {
    this.ready ??= (async () => {
      try {
        this.hook("mkdir", this.outDir);
        const existed = await exists(this.outDir);
        await mkdir(this.outDir, { recursive: true });
        if (!existed) this.createdOut = true;
      } catch (e) {
        throw fsError(`cannot create output directory ${this.outDir}`, e);
      }
      const st = await lstat(this.staging).catch(() => undefined);
      if (st && (st.isSymbolicLink() || !st.isDirectory())) {
        throw new AmalgamError("E_OUTPUT_UNSAFE", `${this.staging} is ${st.isSymbolicLink() ? "a symbolic link" : "not a directory"}; refusing to write through it (remove it and run again)`);
      }
      if (!st) {
        try {
          this.hook("mkdir", this.staging);
          await mkdir(this.staging);
          this.createdStaging = true;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw fsError(`cannot write in output directory ${this.outDir}`, e);
        }
      }
      await this.lock();
    })();
    return this.ready;
  }

  /** Takes the staging folder's lock; a lock of a process that is gone (same host) is taken over. */
  private async lock(): Promise<void> {
    const path = join(this.staging, LOCK_FILE);
    const mine = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(path, WRITE_FLAGS, 0o644);
        await fh.write(mine);
        await fh.close();
        this.locked = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw fsError(`cannot write in output directory ${this.outDir}`, e);
      }
      let holder: { pid?: unknown; host?: unknown; since?: unknown } = {};
      try {
        holder = JSON.parse(await readFile(path, "utf8")) as typeof holder;
      } catch {
        // unreadable: a lock file cut short by a crash
      }
      const alive = typeof holder.pid === "number" && (() => { try { process.kill(holder.pid as number, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === "EPERM"; } })();
      if (holder.host === hostname() && alive && holder.pid !== process.pid) {
        throw new AmalgamError("E_OUTPUT_EXISTS", `${this.outDir} is being written by another Amalgam process (pid ${String(holder.pid)}, since ${String(holder.since)}); wait for it, or stop it first`);
      }
      if (holder.host !== undefined && holder.host !== hostname()) {
        throw new AmalgamError("E_OUTPUT_EXISTS", `${this.outDir} is locked by an Amalgam process on host ${String(holder.host)} (pid ${String(holder.pid)}, since ${String(holder.since)}); if none is running there, remove ${path}`);
      }
      await rm(path, { force: true }); // the process that held it is gone: a killed run
    }
    throw new AmalgamError("E_OUTPUT_EXISTS", `cannot take the lock ${path}`);
  }

  private async unlock(): Promise<void> {
    if (!this.locked) return;
    this.locked = false;
    await rm(join(this.staging, LOCK_FILE), { force: true }).catch(() => {});
  }

  async create(name: string): Promise<FileWriter> {
    checkName(name);
    await this.ensureStaging();
    const final = join(this.staging, name);
    const partial = `${final}.partial`;
    let fh: FileHandle;
    try {
      this.hook("open", partial);
      await rm(partial, { force: true });
      fh = await open(partial, WRITE_FLAGS, 0o644);
    } catch (e) {
      throw fsError(`cannot create ${name} in ${this.outDir}`, e);
    }
    const direct = this.direct ? await openDirect(partial) : undefined;
    this.partials.set(name, { fh, direct });
    this.done.delete(name);
    const sink = this;
    // Blocks handed out for direct writes; back to the pool once the file is closed.
    const given: Uint8Array[] = [];
    return {
      ...(direct ? { buffer: (bytes: number) => { const b = alignedBuffers.take(bytes); given.push(b); return b; } } : {}),
      async write(chunk: Uint8Array) {
        try {
          sink.hook("write", partial);
          let off = 0;
          while (off < chunk.length) {
            const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
            off += bytesWritten;
          }
        } catch (e) {
          throw fsError(`cannot write ${name} in ${sink.outDir}`, e);
        }
      },
      async writeAt(chunk: Uint8Array, offset: number) {
        try {
          sink.hook("write", partial);
          // the aligned part of a block from `buffer` goes straight to the disk, the rest (a file's
          // last bytes) through the page cache
          const head = direct && sink.direct && offset % DIRECT_ALIGN === 0 && alignedBuffers.aligned(chunk) ? chunk.length - (chunk.length % DIRECT_ALIGN) : 0;
          if (head > 0) {
            try {
              sink.hook("write-direct", partial);
              await writeFully(direct!, chunk.subarray(0, head), offset);
              sink.directWritten += head;
            } catch (e) {
              if (!refusedDirect(e)) throw e;
              sink.direct = false;
              await writeFully(fh, chunk.subarray(0, head), offset);
            }
          }
          if (head < chunk.length) await writeFully(fh, chunk.subarray(head), offset + head);
        } catch (e) {
          throw fsError(`cannot write ${name} in ${sink.outDir}`, e);
        }
      },
      async close() {
        try {
          sink.hook("sync", partial);
          await fh.sync();
          await fh.close();
          await direct?.close();
          sink.partials.delete(name);
          alignedBuffers.give(given.splice(0));
          sink.hook("rename", partial);
          await rename(partial, final);
        } catch (e) {
          throw fsError(`cannot finish ${name} in ${sink.outDir}`, e);
        }
        await syncDir(sink.staging);
        sink.done.add(name);
        sink.written.add(name);
      },
    };
  }

  /** Bytes of output written with direct I/O so far (0 where it is off or not possible). */
  get directBytes(): number {
    return this.directWritten;
  }

  async commit(): Promise<void> {
    await this.ensureStaging();
    await this.closeSources();
    const names = [...this.done];
    // What cannot be replaced by a file stops the commit before the directory changes.
    for (const n of names) {
      const st = await lstat(join(this.outDir, n)).catch(() => undefined);
      if (st?.isDirectory()) throw new AmalgamError("E_OUTPUT", `cannot replace ${join(this.outDir, n)}: it is a directory`);
    }
    // An old config.json and index go first: the directory stops looking complete.
    for (const n of ["config.json", "model.safetensors.index.json"]) {
      if (!this.done.has(n)) continue;
      try {
        this.hook("remove", join(this.outDir, n));
        await unlink(join(this.outDir, n));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw fsError(`cannot replace ${n} in ${this.outDir}`, e);
      }
    }
    // Weights, then side files, then the index, config.json last.
    const rank = (n: string) => (n.endsWith(".safetensors") ? 0 : n === "model.safetensors.index.json" ? 2 : n === "config.json" ? 3 : 1);
    names.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    for (const n of names) {
      const from = join(this.staging, n);
      if (!(await exists(from))) continue; // kept from an earlier run that had already moved it
      try {
        this.hook("rename", from);
        await rename(from, join(this.outDir, n));
      } catch (e) {
        throw fsError(`cannot move ${n} into ${this.outDir}`, e);
      }
    }
    await syncDir(this.outDir);
    await rm(this.staging, { recursive: true, force: true });
    this.locked = false;
    this.recorded = new Set();
  }

  async abort(): Promise<void> {
    for (const [name, { fh, direct }] of this.partials) {
      await fh.close().catch(() => {});
      await direct?.close().catch(() => {});
      await rm(join(this.staging, `${name}.partial`), { force: true }).catch(() => {});
    }
    this.partials.clear();
    await this.closeSources();
    if (!this.ready || !(await this.ready.then(() => true, () => false))) {
      await this.removeOutIfCreated();
      return;
    }
    if (this.createdStaging && this.recorded.size === 0) {
      await rm(this.staging, { recursive: true, force: true }).catch(() => {});
      this.locked = false;
      await this.removeOutIfCreated();
      return;
    }
    // Keep what the progress record lists (a resume starts from it); remove the rest of this run.
    for (const n of this.written) if (!this.recorded.has(n)) await rm(join(this.staging, n), { force: true }).catch(() => {});
    await this.unlock();
  }

  private async removeOutIfCreated(): Promise<void> {
    if (!this.createdOut) return;
    const left = await readdir(this.outDir).catch(() => ["?"]);
    if (left.length === 0) await rmdir(this.outDir).catch(() => {});
  }

  private async closeSources(): Promise<void> {
    for (const fh of this.sources.splice(0)) await fh.close().catch(() => {});
  }

  private async existing(): Promise<string[]> {
    try {
      return (await readdir(this.outDir)).filter((n) => n !== this.stagingName);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw fsError(`cannot list output directory ${this.outDir}`, e);
    }
  }

  private async readProgress(): Promise<Uint8Array | undefined> {
    const p = join(this.staging, PROGRESS_FILE);
    const st = await lstat(this.staging).catch(() => undefined);
    if (!st?.isDirectory()) return undefined;
    await this.ensureStaging(); // takes the lock: another process may be writing this staging folder
    const f = await lstat(p).catch(() => undefined);
    if (!f?.isFile()) return undefined;
    return readFile(p).catch((e: unknown) => { throw fsError(`cannot read ${p}`, e); });
  }

  private async writeProgress(bytes: Uint8Array, files: readonly string[]): Promise<void> {
    await this.ensureStaging();
    const final = join(this.staging, PROGRESS_FILE);
    const partial = `${final}.partial`;
    try {
      this.hook("open", partial);
      await rm(partial, { force: true });
      const fh = await open(partial, WRITE_FLAGS, 0o644);
      try {
        await fh.write(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      this.hook("rename", partial);
      await rename(partial, final);
    } catch (e) {
      throw fsError(`cannot record progress in ${this.staging}`, e);
    }
    await syncDir(this.staging);
    this.recorded = new Set(files);
  }

  private async openFinished(name: string): Promise<ByteSource | undefined> {
    checkName(name);
    for (const p of [join(this.staging, name), join(this.outDir, name)]) {
      const st = await lstat(p).catch(() => undefined);
      if (!st?.isFile()) continue; // absent, a directory, or a symbolic link: not ours
      const fh = await open(p, READ_FLAGS).catch(() => undefined);
      if (!fh) continue;
      this.sources.push(fh);
      return new HandleSource(fh, (await fh.stat()).size, p);
    }
    return undefined;
  }

  private async discard(): Promise<void> {
    await this.closeSources();
    this.locked = false;
    await rm(this.staging, { recursive: true, force: true }).catch((e: unknown) => { throw fsError(`cannot remove ${this.staging}`, e); });
    this.ready = undefined;
    this.done.clear();
    this.written.clear();
    this.recorded = new Set();
  }
}
