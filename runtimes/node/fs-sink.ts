// An atomic output directory on Node: files are written into a hidden staging folder inside the
// output directory and moved into place only on commit; abort removes everything written.
import { mkdir, open, readdir, rename, rm, rmdir, stat } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join, resolve } from "node:path";
import { AmalgamError } from "../../src/errors.ts";
import type { FileWriter, OutputSink } from "../../src/io/storage.ts";

function ioError(what: string, e: unknown): AmalgamError {
  const code = (e as NodeJS.ErrnoException).code;
  const hint = code === "ENOSPC" ? " (disk full)" : code === "EACCES" || code === "EPERM" ? " (permission denied)" : "";
  return new AmalgamError("E_IO", `${what}: ${code ?? (e as Error).message}${hint}`);
}

export class FsOutputSink implements OutputSink {
  private readonly staged: string[] = [];
  private constructor(private readonly outDir: string, private readonly staging: string, private readonly createdOut: boolean) {}

  static async create(outDir: string): Promise<FsOutputSink> {
    const out = resolve(outDir);
    let created = false;
    try {
      const st = await stat(out);
      if (!st.isDirectory()) throw new AmalgamError("E_OUTPUT", `output ${outDir} exists and is not a directory`);
    } catch (e) {
      if (e instanceof AmalgamError) throw e;
      try {
        await mkdir(out, { recursive: true });
        created = true;
      } catch (e2) {
        throw ioError(`cannot create output directory ${outDir}`, e2);
      }
    }
    const staging = join(out, `.amalgam-partial-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
    try {
      await mkdir(staging);
    } catch (e) {
      throw ioError(`cannot write in output directory ${outDir}`, e);
    }
    return new FsOutputSink(out, staging, created);
  }

  async create(name: string): Promise<FileWriter> {
    if (!name || name.includes("/") || name.includes("\\") || name.startsWith(".")) {
      throw new AmalgamError("E_OUTPUT", `refusing to write output file ${JSON.stringify(name)}: not a plain file name`);
    }
    const path = join(this.staging, name);
    let fh: FileHandle;
    try {
      fh = await open(path, "w");
    } catch (e) {
      throw ioError(`cannot create ${path}`, e);
    }
    this.staged.push(name);
    return {
      async write(chunk: Uint8Array) {
        try {
          let off = 0;
          while (off < chunk.length) {
            const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
            off += bytesWritten;
          }
        } catch (e) {
          throw ioError(`cannot write ${path}`, e);
        }
      },
      async close() {
        try {
          await fh.sync();
          await fh.close();
        } catch (e) {
          throw ioError(`cannot finish ${path}`, e);
        }
      },
    };
  }

  async commit(): Promise<void> {
    // Weights first, then the index and config: a reader never sees a config without its weights.
    const rank = (n: string) => (n.endsWith(".safetensors") ? 0 : n === "model.safetensors.index.json" ? 1 : n === "config.json" ? 3 : 2);
    const names = [...this.staged].sort((a, b) => rank(a) - rank(b));
    for (const n of names) {
      try {
        await rename(join(this.staging, n), join(this.outDir, n));
      } catch (e) {
        throw ioError(`cannot move ${n} into ${this.outDir}`, e);
      }
    }
    await rmdir(this.staging).catch(() => {});
  }

  async abort(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true });
    if (this.createdOut) {
      const left = await readdir(this.outDir).catch(() => ["?"]);
      if (left.length === 0) await rmdir(this.outDir).catch(() => {});
    }
  }
}
