// An OutputSink over a FileSystemDirectoryHandle: the origin-private file system (OPFS, on disk,
// no prompt) or a folder the user picked. Files are written into a hidden staging folder and moved
// into place on commit (weights first, config.json last); abort removes the staging folder.
import { AmalgamError } from "../../src/errors.ts";
import type { FileWriter, OutputSink } from "../../src/io/storage.ts";

/** `FileSystemHandle.move`, in Chromium (not yet in TypeScript's DOM types). */
interface MovableHandle {
  move?(parent: FileSystemDirectoryHandle, name: string): Promise<void>;
}

function commitRank(name: string): number {
  return name.endsWith(".safetensors") ? 0 : name === "model.safetensors.index.json" ? 1 : name === "config.json" ? 3 : 2;
}

function ioError(what: string, e: unknown): AmalgamError {
  const name = (e as Error)?.name;
  const hint = name === "QuotaExceededError" ? " (the browser's storage quota is full)" : name === "NotAllowedError" ? " (permission denied)" : "";
  return new AmalgamError("E_IO", `${what}: ${(e as Error)?.message ?? String(e)}${hint}`, { cause: e });
}

export class DirectorySink implements OutputSink {
  private readonly staged: string[] = [];

  private constructor(
    readonly dir: FileSystemDirectoryHandle,
    private readonly staging: FileSystemDirectoryHandle,
    private readonly stagingName: string,
    /** Set when this sink created `dir` inside it: abort removes `dir` again if it is empty. */
    private readonly createdIn: FileSystemDirectoryHandle | undefined,
  ) {}

  /** Writes into `dir` (created inside `parent` when `name` is given). */
  static async create(parent: FileSystemDirectoryHandle, name?: string): Promise<DirectorySink> {
    try {
      const existed = name ? await parent.getDirectoryHandle(name).then(() => true, () => false) : true;
      const dir = name ? await parent.getDirectoryHandle(name, { create: true }) : parent;
      const stagingName = `.amalgam-partial-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
      return new DirectorySink(dir, await dir.getDirectoryHandle(stagingName, { create: true }), stagingName, existed ? undefined : parent);
    } catch (e) {
      throw ioError(`cannot create the output folder ${name ?? parent.name}`, e);
    }
  }

  /** A folder of the origin-private file system (created if needed). */
  static async opfs(name: string): Promise<DirectorySink> {
    return DirectorySink.create(await navigator.storage.getDirectory(), name);
  }

  async create(name: string): Promise<FileWriter> {
    if (!name || name.includes("/") || name.includes("\\") || name.startsWith(".")) {
      throw new AmalgamError("E_OUTPUT", `refusing to write output file ${JSON.stringify(name)}: not a plain file name`);
    }
    let stream: FileSystemWritableFileStream;
    try {
      stream = await (await this.staging.getFileHandle(name, { create: true })).createWritable();
    } catch (e) {
      throw ioError(`cannot create ${name}`, e);
    }
    this.staged.push(name);
    return {
      async write(chunk: Uint8Array) {
        // a copy: the chunk is a view of wasm memory (shared with threads), reused after this
        try {
          await stream.write(chunk.slice());
        } catch (e) {
          throw ioError(`cannot write ${name}`, e);
        }
      },
      async close() {
        try {
          await stream.close();
        } catch (e) {
          throw ioError(`cannot finish ${name}`, e);
        }
      },
    };
  }

  async commit(): Promise<void> {
    for (const name of [...this.staged].sort((a, b) => commitRank(a) - commitRank(b))) {
      try {
        const from = await this.staging.getFileHandle(name);
        await this.dir.removeEntry(name).catch(() => {});
        const movable = from as FileSystemFileHandle & MovableHandle;
        if (typeof movable.move === "function") {
          await movable.move(this.dir, name);
        } else {
          const to = await (await this.dir.getFileHandle(name, { create: true })).createWritable();
          await (await from.getFile()).stream().pipeTo(to);
        }
      } catch (e) {
        throw ioError(`cannot move ${name} into place`, e);
      }
    }
    await this.dir.removeEntry(this.stagingName, { recursive: true }).catch(() => {});
  }

  async abort(): Promise<void> {
    await this.dir.removeEntry(this.stagingName, { recursive: true }).catch(() => {});
    // without `recursive`, removing a folder that is not empty fails, which is what we want
    if (this.createdIn) await this.createdIn.removeEntry(this.dir.name).catch(() => {});
  }

  /** The committed files, as File objects (disk-backed: downloading one does not load it). */
  async files(): Promise<File[]> {
    const out: File[] = [];
    for (const name of this.staged) out.push(await (await this.dir.getFileHandle(name)).getFile());
    return out;
  }
}

/** Starts a download of a Blob (a disk-backed OPFS File downloads without being read into memory). */
export function downloadBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.style.display = "none";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
