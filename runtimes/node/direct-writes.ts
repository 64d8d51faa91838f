// Direct I/O for output shards (Linux O_DIRECT): whole blocks go from our memory to the disk without
// a copy into the page cache. On a small VM that copy is most of a write's cost: 2 GiB written
// through the page cache took 1.9-4.7 s of system CPU here, and 0.18 s with O_DIRECT
// (docs/benchmarks.md), CPU the merge's kernels need.
//
// Direct I/O wants the memory address, the file offset and the length aligned to the device's
// logical block size. The buffers handed out here are WebAssembly memories, whose bytes start on a
// page boundary in V8 and JavaScriptCore (a JavaScript ArrayBuffer's do not: malloc puts a header
// before them); offsets and lengths are the writer's, checked at each write. What is not aligned
// (a file's last bytes) goes through the page cache, and a file system that refuses O_DIRECT at open
// (tmpfs) or at a write (EINVAL) gets ordinary writes for the rest of the run.
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";

/** Alignment of direct writes: 4096 covers every logical block size Linux disks use. */
export const DIRECT_ALIGN = 4096;

const WASM_PAGE = 65536;

/** Buffers whose bytes start on a page boundary, reused once their writer is closed. */
export class AlignedBuffers {
  private readonly free = new Map<number, Uint8Array[]>();
  private readonly ours = new WeakSet<ArrayBufferLike>();

  /** A page-aligned buffer of `bytes` (its contents are whatever an earlier user left). */
  take(bytes: number): Uint8Array {
    const reused = this.free.get(bytes)?.pop();
    if (reused) return reused;
    const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE));
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.ours.add(memory.buffer);
    return new Uint8Array(memory.buffer, 0, bytes);
  }

  /** Gives back buffers from `take` that nothing will touch again. */
  give(buffers: Iterable<Uint8Array>): void {
    for (const b of buffers) {
      let list = this.free.get(b.length);
      if (!list) this.free.set(b.length, (list = []));
      list.push(b);
    }
  }

  /** Whether `chunk` lies in one of these buffers at an aligned address. */
  aligned(chunk: Uint8Array): boolean {
    return this.ours.has(chunk.buffer) && chunk.byteOffset % DIRECT_ALIGN === 0;
  }
}

/** The process's pool: a run holds a few blocks per open shard, so it stays small. */
export const alignedBuffers = new AlignedBuffers();

/**
 * A second handle on `path` (already created) for direct writes, or undefined where the platform
 * has no O_DIRECT or the file system refuses it.
 */
export async function openDirect(path: string): Promise<FileHandle | undefined> {
  const flag = constants.O_DIRECT;
  if (typeof flag !== "number" || flag === 0) return undefined;
  return open(path, constants.O_WRONLY | flag | (constants.O_NOFOLLOW ?? 0)).catch(() => undefined);
}

/** Whether an error from a direct write means "not this way" (retry through the page cache). */
export function refusedDirect(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === "EINVAL" || code === "EOPNOTSUPP" || code === "ENOTSUP";
}

/** Writes all of `chunk` at `position` of `fh`. */
export async function writeFully(fh: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, position + off);
    if (bytesWritten === 0) throw Object.assign(new Error("write wrote nothing"), { code: "EIO" });
    off += bytesWritten;
  }
}
